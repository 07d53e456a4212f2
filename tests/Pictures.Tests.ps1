# Issue 13: pictures that tell the truth. Deformation grids in millimetres with cubic pixels (as the overlay of the same
# slice), for SyN and affine maps; titles and orientation letters; colour photos in colour; geometry checked in pixels.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    function New-Blob([RegPS.Engine.Images.Grid] $Grid) {
        $d = [float[]]::new($Grid.VoxelCount)
        $c = $Grid.ToWorld(($Grid.NX - 1) / 2, ($Grid.NY - 1) / 2, ($Grid.NZ - 1) / 2)
        for ($k = 0; $k -lt $Grid.NZ; $k++) { for ($j = 0; $j -lt $Grid.NY; $j++) { for ($i = 0; $i -lt $Grid.NX; $i++) {
            $p = $Grid.ToWorld($i, $j, $k)
            $r2 = ($p.Item1 - $c.Item1) * ($p.Item1 - $c.Item1) + ($p.Item2 - $c.Item2) * ($p.Item2 - $c.Item2) + ($p.Item3 - $c.Item3) * ($p.Item3 - $c.Item3)
            $d[($k * $Grid.NY + $j) * $Grid.NX + $i] = [float] (100 * [math]::Exp(-$r2 / 200))
        } } }
        [RegPS.Engine.Images.Image]::FromVoxels($Grid, $d)
    }
    function Get-Planes($Png) {
        # R, G and B planes; a picture PhotoIO reads as grey (every pixel R = G = B) has its grey values thrice.
        $c = $Png.ColourToArray()
        if ($null -eq $c) { $v = $Png.ToArray(); $c = [float[]] ($v + $v + $v) }
        , $c
    }
    function Get-Pixel($Png, [int] $X, [int] $Y) {
        $n = $Png.Grid.VoxelCount; $k = $Y * $Png.Grid.NX + $X; $c = Get-Planes $Png
        @($c[$k], $c[$n + $k], $c[2 * $n + $k])
    }
    function Get-Size([string] $Path) { $p = Get-PhotoImage $Path; @($p.Grid.NX, $p.Grid.NY) }
    # Columns of a PNG row drawn in the grid's yellow (255, 255, 0).
    function Get-YellowColumns($Png, [int] $Y) {
        $n = $Png.Grid.VoxelCount; $c = Get-Planes $Png; $w = $Png.Grid.NX
        0..($w - 1) | Where-Object { $k = $Y * $w + $_; $c[$k] -eq 255 -and $c[$n + $k] -eq 255 -and $c[2 * $n + $k] -eq 0 }
    }
    function Get-YellowRows($Png, [int] $X) {
        $n = $Png.Grid.VoxelCount; $c = Get-Planes $Png; $w = $Png.Grid.NX
        0..($Png.Grid.NY - 1) | Where-Object { $k = $_ * $w + $X; $c[$k] -eq 255 -and $c[$n + $k] -eq 255 -and $c[2 * $n + $k] -eq 0 }
    }

    # 20 x 20 x 10 voxels of 2 x 2 x 3 mm: 40 x 40 x 30 mm (the display grid: 2 mm cubes, 20 x 20 x 15).
    $script:Aniso = [RegPS.Engine.Images.Grid]::Create3D(20, 20, 10, 2, 2, 3)
    $script:Vol = New-Blob $Aniso
    $moved = [RegPS.Engine.Registration.AffineMap]::new([RegPS.Engine.Images.Matrix4]::Translation(2, 0, 3), $Aniso, $Aniso).Transform($Vol)
    $script:Syn = Register-SynImage -Static $Vol -Moving $moved -LevelIterations 3
    $script:Identity = [RegPS.Engine.Registration.AffineMap]::new([RegPS.Engine.Images.Matrix4]::Identity, $Aniso, $Aniso)
    $script:Out = Join-Path $TestDrive 'pictures'
    $null = New-Item -ItemType Directory $Out
}

Describe 'Deformation grids are drawn in millimetres with cubic pixels, as the overlay is' {
    It 'gives a 2x2x3 mm <Axis> grid the size and aspect of its overlay (<Voxels> cubic voxels of 2 mm)' -ForEach @(
        @{ Axis = 'Coronal'; Voxels = 20, 15 }    # x: 20 voxels of 2 mm; z: 10 slices of 3 mm = 27 mm between the first and last, 15 voxels of 2 mm
        @{ Axis = 'Sagittal'; Voxels = 20, 15 }
        @{ Axis = 'Axial'; Voxels = 20, 20 }
    ) {
        foreach ($map in $Syn, $Identity) {
            $o = Export-StereoOverlay -Static $Vol -Moving $Vol -Axis $Axis -Scale 4 -Path (Join-Path $Out "o-$Axis-$($map.GetType().Name).png")
            $g = $map | Export-DeformationGrid -Axis $Axis -Scale 4 -Path (Join-Path $Out "g-$Axis-$($map.GetType().Name).png")
            $os = Get-Size $o.FullName; $gs = Get-Size $g.FullName
            $gs | Should -Be $os
            # 4 pixels a voxel: (20 x 10 storage voxels would give 80 x 40, squashed)
            $gs | Should -Be @(($Voxels[0] * 4), ($Voxels[1] * 4))
        }
    }

    It 'draws an affine map: a 4 mm shift along x moves the vertical lines 2 display voxels, a 6 mm shift along z moves the horizontal lines 3' {
        $shift = [RegPS.Engine.Registration.AffineMap]::new([RegPS.Engine.Images.Matrix4]::Translation(4, 0, 6), $Aniso, $Aniso)
        $plain = Get-PhotoImage ($Identity | Export-DeformationGrid -Axis Coronal -Scale 4 -Path (Join-Path $Out 'id.png')).FullName
        $moved = Get-PhotoImage ($shift | Export-DeformationGrid -Axis Coronal -Scale 4 -Path (Join-Path $Out 'shift.png')).FullName
        # a row and a column away from the horizontal and vertical lines of both pictures
        $row = 24; $col = 26
        $before = @(Get-YellowColumns $plain $row); $after = @(Get-YellowColumns $moved $row)
        $before.Count | Should -BeGreaterThan 1
        $after | Should -Be ($before | ForEach-Object { $_ + 8 } | Where-Object { $_ -lt $moved.Grid.NX })
        $beforeRows = @(Get-YellowRows $plain $col); $afterRows = @(Get-YellowRows $moved $col)
        # superior is up: +6 mm along z (3 display voxels of 2 mm, 12 pixels) moves the horizontal lines up
        $afterRows | Should -Be ($beforeRows | ForEach-Object { $_ - 12 } | Where-Object { $_ -ge 0 })
    }

    It 'draws on the grid the overlay resamples its images onto (DisplayGrid = ToIsotropic(ToClosestCanonical))' {
        $m = [RegPS.Engine.Images.Matrix4]::new([double[]] @(0, 0, -3, 40, -2, 0, 0, 30, 0, 1.5, 0, -10, 0, 0, 0, 1))
        $g = [RegPS.Engine.Images.Grid]::new(7, 9, 11, $m, 3)
        $img = [RegPS.Engine.Images.Image]::FromVoxels($g, [float[]]::new($g.VoxelCount))
        $shown = [RegPS.Engine.Images.Reorient]::ToIsotropic([RegPS.Engine.Images.Reorient]::ToClosestCanonical($img)).Grid
        $display = [RegPS.Engine.Images.Reorient]::DisplayGrid($g)
        $display.Equals($shown) | Should -BeTrue
        $display.Orientation | Should -Be 'RAS'
        $display.Spacing | Should -Be @(1.5, 1.5, 1.5)
    }

    It 'draws the same picture for an image stored left-posterior (LPS) as for its RAS copy' {
        $flip = [RegPS.Engine.Images.Matrix4]::new([double[]] @(-2, 0, 0, 38, 0, -2, 0, 38, 0, 0, 3, 0, 0, 0, 0, 1))
        $lps = [RegPS.Engine.Images.Grid]::new(20, 20, 10, $flip, 3)
        $m1 = [RegPS.Engine.Registration.AffineMap]::new([RegPS.Engine.Images.Matrix4]::Translation(4, 2, 6), $Aniso, $Aniso)
        $m2 = [RegPS.Engine.Registration.AffineMap]::new([RegPS.Engine.Images.Matrix4]::Translation(4, 2, 6), $lps, $lps)
        $a = Get-PhotoImage ($m1 | Export-DeformationGrid -Axis Coronal -Scale 3 -Path (Join-Path $Out 'ras.png')).FullName
        $b = Get-PhotoImage ($m2 | Export-DeformationGrid -Axis Coronal -Scale 3 -Path (Join-Path $Out 'lps.png')).FullName
        [Linq.Enumerable]::SequenceEqual([float[]] (Get-Planes $a), [float[]] (Get-Planes $b)) | Should -BeTrue
    }

    It 'draws an underlay on another grid after resampling it onto the static grid, and says so' {
        $fine = [RegPS.Engine.Images.Grid]::Create3D(40, 40, 30, 1, 1, 1)
        $f = $Syn | Export-DeformationGrid -Underlay (New-Blob $fine) -Axis Coronal -Path (Join-Path $Out 'under.png') -Verbose 4>&1 |
            Tee-Object -Variable all | Where-Object { $_ -is [IO.FileInfo] }
        (($all | Where-Object { $_ -is [Management.Automation.VerboseRecord] }).Message -join ' ') | Should -Match 'resampled onto'
        $png = Get-PhotoImage $f.FullName
        # the blob's centre is grey under the lines; a corner is black
        $mid = Get-Pixel $png ([int] ($png.Grid.NX / 2) + 3) ([int] ($png.Grid.NY / 2) + 3)
        $mid[0] | Should -BeGreaterThan 60
        $mid[0] | Should -Be $mid[2]
        (Get-Pixel $png 1 1) | Should -Be @(0, 0, 0)
    }
}

Describe 'Titles and orientation letters' {
    BeforeAll {
        $script:Cube = [RegPS.Engine.Images.Image]::FromVoxels([RegPS.Engine.Images.Grid]::Create3D(20, 20, 20, 2, 2, 2), [float[]]::new(8000))
        function Get-Letters([string] $Axis, $Image = $Cube) {
            Get-PhotoImage (Export-StereoOverlay -Static $Image -Moving $Image -Axis $Axis -Scale 8 -OrientationLetters -Force -Path (Join-Path $Out "letters-$Axis.png")).FullName
        }
        # The pixels of a box of the picture, as one array (R, G, B of each pixel in turn).
        function Get-Box($Png, [int] $X0, [int] $Y0, [int] $W, [int] $H) {
            $n = $Png.Grid.VoxelCount; $c = Get-Planes $Png; $nx = $Png.Grid.NX
            foreach ($y in $Y0..($Y0 + $H - 1)) { foreach ($x in $X0..($X0 + $W - 1)) { $k = $y * $nx + $x; $c[$k]; $c[$n + $k]; $c[2 * $n + $k] } }
        }
        $script:Boxes = @{ Left = @(0, 68, 24, 24); Right = @(136, 68, 24, 24); Top = @(68, 0, 24, 24); Bottom = @(68, 136, 24, 24) }
    }

    It 'puts a letter at the middle of each edge and nothing elsewhere (a black image)' {
        $png = Get-Letters Axial
        $png.Grid.NX | Should -Be 160
        foreach ($b in $Boxes.Values) { (Get-Box $png @b | Measure-Object -Maximum).Maximum | Should -Be 255 }
        # outside the four boxes the picture stays black
        $n = $png.Grid.VoxelCount; $c = Get-Planes $png; $lit = 0
        for ($y = 0; $y -lt 160; $y++) { for ($x = 0; $x -lt 160; $x++) {
            $inBox = $false
            foreach ($b in $Boxes.Values) { if ($x -ge $b[0] -and $x -lt $b[0] + $b[2] -and $y -ge $b[1] -and $y -lt $b[1] + $b[3]) { $inBox = $true } }
            if (-not $inBox -and $c[$y * 160 + $x] -gt 0) { $lit++ }
        } }
        $lit | Should -Be 0
    }

    It 'names the planes'' directions: S over both coronal and sagittal slices, L and P on the left of axial and sagittal' {
        $axial = Get-Letters Axial; $coronal = Get-Letters Coronal; $sagittal = Get-Letters Sagittal
        $top = $Boxes.Top; $left = $Boxes.Left; $right = $Boxes.Right
        # same letter, same pixels
        [Linq.Enumerable]::SequenceEqual([float[]] (Get-Box $coronal @top), [float[]] (Get-Box $sagittal @top)) | Should -BeTrue     # S
        [Linq.Enumerable]::SequenceEqual([float[]] (Get-Box $axial @left), [float[]] (Get-Box $coronal @left)) | Should -BeTrue      # L
        # different letters, different pixels
        [Linq.Enumerable]::SequenceEqual([float[]] (Get-Box $axial @top), [float[]] (Get-Box $coronal @top)) | Should -BeFalse      # A vs S
        [Linq.Enumerable]::SequenceEqual([float[]] (Get-Box $axial @left), [float[]] (Get-Box $sagittal @left)) | Should -BeFalse   # L vs P
        [Linq.Enumerable]::SequenceEqual([float[]] (Get-Box $axial @left), [float[]] (Get-Box $axial @right)) | Should -BeFalse     # L vs R
        [Linq.Enumerable]::SequenceEqual([float[]] (Get-Box $axial @right), [float[]] (Get-Box $coronal @right)) | Should -BeTrue    # R
        [Linq.Enumerable]::SequenceEqual([float[]] (Get-Box $sagittal @right), [float[]] (Get-Box $coronal @right)) | Should -BeFalse # A vs R
    }

    It 'reads the letters from the world, not the storage order (an LPS-stored copy gets the same picture)' {
        $lps = [RegPS.Engine.Images.Image]::FromVoxels([RegPS.Engine.Images.Grid]::new(20, 20, 20, [RegPS.Engine.Images.Matrix4]::Scaling(-2, -2, 2), 3), [float[]]::new(8000))
        $lps.Orientation | Should -Be 'LPS'
        [Linq.Enumerable]::SequenceEqual([float[]] (Get-Planes (Get-Letters Axial $lps)), [float[]] (Get-Planes (Get-Letters Axial))) | Should -BeTrue
    }

    It 'adds a 20-pixel title strip to overlays and grids' {
        $plain = Get-Size (Export-StereoOverlay -Static $Vol -Moving $Vol -Scale 4 -Layout ThreePanel -Path (Join-Path $Out 't0.png')).FullName
        $o = Export-StereoOverlay -Static $Vol -Moving $Vol -Scale 4 -Layout ThreePanel -Title 'overlay' -StaticTitle 'template' -MovingTitle 'sub-01' -Path (Join-Path $Out 't1.png')
        $titled = Get-PhotoImage $o.FullName
        @($titled.Grid.NX, $titled.Grid.NY) | Should -Be @($plain[0], ($plain[1] + 20))
        # white text in each panel's part of the strip
        $pw = ($plain[0] - 8) / 3
        foreach ($p in 0..2) { (Get-Box $titled ($p * ($pw + 4)) 0 $pw 20 | Measure-Object -Maximum).Maximum | Should -BeGreaterThan 200 }
        $g0 = Get-Size ($Syn | Export-DeformationGrid -Scale 4 -Path (Join-Path $Out 'g0.png')).FullName
        $g1 = Get-Size ($Syn | Export-DeformationGrid -Scale 4 -Title 'sub-01 SyN' -Path (Join-Path $Out 'g1.png')).FullName
        $g1 | Should -Be @($g0[0], ($g0[1] + 20))
    }
}

Describe 'Colour photos stay in colour in the three-panel figure' {
    BeforeAll {
        # A 40x40 photo: a red square on a blue background, written as a colour PNG and read back.
        $g = [RegPS.Engine.Images.Grid]::Create2D(40, 40)
        $grey = [float[]]::new(1600); $rgb = [float[]]::new(4800)
        for ($y = 0; $y -lt 40; $y++) { for ($x = 0; $x -lt 40; $x++) {
            $k = $y * 40 + $x; $red = $x -ge 10 -and $x -lt 30 -and $y -ge 10 -and $y -lt 30
            $rgb[$k] = if ($red) { 220 } else { 0 }; $rgb[1600 + $k] = 30; $rgb[3200 + $k] = if ($red) { 20 } else { 200 }
            $grey[$k] = 0.299 * $rgb[$k] + 0.587 * $rgb[1600 + $k] + 0.114 * $rgb[3200 + $k]
        } }
        $file = [RegPS.Engine.Images.Image]::new($g, $grey, 1, $rgb) | Export-PhotoImage -Path (Join-Path $Out 'photo.png')
        $script:Photo = Get-PhotoImage $file.FullName
    }

    It 'reads the photo in colour' { $Photo.IsColour | Should -BeTrue }

    It 'draws the static and moving panels in the photo''s colours, not grey' {
        $f = Export-StereoOverlay -Static $Photo -Moving $Photo -Layout ThreePanel -Scale 1 -Path (Join-Path $Out 'three.png')
        $png = Get-PhotoImage $f.FullName
        (Get-Pixel $png 20 20) | Should -Be @(220, 30, 20)          # static panel, red square
        (Get-Pixel $png 2 2) | Should -Be @(0, 30, 200)             # static panel, blue background
        (Get-Pixel $png (44 + 20) 20) | Should -Be @(220, 30, 20)   # moving panel
    }

    It 'keeps the moving photo''s colours through a map' {
        $shift = [RegPS.Engine.Registration.AffineMap]::new([RegPS.Engine.Images.Matrix4]::Translation(5, 0, 0), $Photo.Grid, $Photo.Grid)
        $f = $shift | Export-StereoOverlay -Static $Photo -Moving $Photo -Layout ThreePanel -Scale 1 -Path (Join-Path $Out 'three-map.png')
        $png = Get-PhotoImage $f.FullName
        # moving(x + 5): the red square now spans x = 5..24 in the moving panel
        (Get-Pixel $png (44 + 7) 20) | Should -Be @(220, 30, 20)
        (Get-Pixel $png (44 + 27) 20) | Should -Be @(0, 30, 200)
    }
}
