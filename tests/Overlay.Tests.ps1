BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    # Static: a bright left half; moving: a bright top half, both 40x40 on one grid (2D).
    $g = [RegPS.Engine.Images.Grid]::Create2D(40, 40)
    $a = [float[]]::new(1600); $b = [float[]]::new(1600)
    for ($j = 0; $j -lt 40; $j++) { for ($i = 0; $i -lt 40; $i++) {
        if ($i -lt 20) { $a[$j * 40 + $i] = 200 }
        if ($j -ge 20) { $b[$j * 40 + $i] = 50 }
    } }
    $script:S = [RegPS.Engine.Images.Image]::FromVoxels($g, $a)
    $script:M = [RegPS.Engine.Images.Image]::FromVoxels($g, $b)

    function Get-Rgb($img, $x, $y) {
        $n = $img.Grid.VoxelCount; $k = $y * $img.Grid.NX + $x; $c = $img.ColourToArray()
        @($c[$k], $c[$n + $k], $c[2 * $n + $k])
    }
}

Describe 'Export-StereoOverlay' {
    It 'draws red where only the static image has signal, green where only the moving has, yellow where both agree' {
        $f = Export-StereoOverlay -Static $S -Moving $M -Path 'TestDrive:/o.png' -Scale 1
        $f | Should -BeOfType ([IO.FileInfo])
        $png = Get-PhotoImage $f.FullName
        $png.Grid.Shape | Should -Be @(40, 40)
        # A 2D image is drawn as a picture (row 0 at the top), so voxel (x, y) is pixel (x, y).
        (Get-Rgb $png 5 35) | Should -Be @(255, 255, 0)    # x<20 (static) and y>=20 (moving): yellow
        (Get-Rgb $png 5 5) | Should -Be @(255, 0, 0)       # static only: red
        (Get-Rgb $png 30 35) | Should -Be @(0, 255, 0)     # moving only: green (each image scaled to its own maximum)
        (Get-Rgb $png 30 5) | Should -Be @(0, 0, 0)
    }

    It 'uses magenta for the static image with -Colours MagentaGreen' {
        $f = Export-StereoOverlay -Static $S -Moving $M -Path 'TestDrive:/m.png' -Scale 1 -Colours MagentaGreen
        (Get-Rgb (Get-PhotoImage $f.FullName) 5 5) | Should -Be @(255, 0, 255)
    }

    It 'draws three panels side by side with -Layout ThreePanel' {
        $f = Export-StereoOverlay -Static $S -Moving $M -Path 'TestDrive:/t.png' -Scale 1 -Layout ThreePanel
        $png = Get-PhotoImage $f.FullName
        $png.Grid.NX | Should -BeGreaterOrEqual 120
        $png.Grid.NY | Should -Be 40
    }

    It 'resamples a moving image on another grid onto the static grid for a "before" overlay, and says so' {
        # The moving image on a 20x20 grid of 2-pixel spacing covers the same 40x40 field: its bright top half lands
        # where M's does, so the overlay is the one of S and M.
        $g2 = [RegPS.Engine.Images.Grid]::new(20, 20, 1, [RegPS.Engine.Images.Matrix4]::new([double[]] @(2, 0, 0, 0.5, 0, 2, 0, 0.5, 0, 0, 1, 0, 0, 0, 0, 1)), 2)
        $d = [float[]]::new(400)
        for ($j = 0; $j -lt 20; $j++) { for ($i = 0; $i -lt 20; $i++) { if ($j -ge 10) { $d[$j * 20 + $i] = 50 } } }
        $other = [RegPS.Engine.Images.Image]::FromVoxels($g2, $d)
        $f = Export-StereoOverlay -Static $S -Moving $other -Path 'TestDrive:/x.png' -Scale 1 -Verbose 4>&1 | Tee-Object -Variable all |
            Where-Object { $_ -is [IO.FileInfo] }
        (($all | Where-Object { $_ -is [Management.Automation.VerboseRecord] }).Message -join ' ') | Should -Match 'resampled onto'
        $png = Get-PhotoImage $f.FullName
        $png.Grid.NX | Should -Be 40
        (Get-Rgb $png 5 5) | Should -Be @(255, 0, 0)       # static only: red
        (Get-Rgb $png 5 30) | Should -Be @(255, 255, 0)    # both: yellow
        (Get-Rgb $png 30 30) | Should -Be @(0, 255, 0)     # moving only: green
    }

    It 'honours -WhatIf and -Force' {
        Export-StereoOverlay -Static $S -Moving $M -Path 'TestDrive:/w.png' -WhatIf
        'TestDrive:/w.png' | Should -Not -Exist
        $null = Export-StereoOverlay -Static $S -Moving $M -Path 'TestDrive:/f.png'
        $null = Export-StereoOverlay -Static $S -Moving $M -Path 'TestDrive:/f.png' -ErrorVariable errs -ErrorAction SilentlyContinue
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'FileExists*'
        { Export-StereoOverlay -Static $S -Moving $M -Path 'TestDrive:/f.png' -Force -ErrorAction Stop } | Should -Not -Throw
    }

    It 'draws a chosen slice of a 3D pair' {
        $vol = New-TestVolume -N 24
        $f = Export-StereoOverlay -Static $vol -Moving $vol -Path 'TestDrive:/3d.png' -Axis Coronal -Slice 12 -Scale 1
        $png = Get-PhotoImage $f.FullName
        $png.Grid.Shape | Should -Be @(24, 24)
        # Same image in both channels: the centre is yellow and no pixel is red-only or green-only.
        (Get-Rgb $png 12 12)[0] | Should -BeGreaterThan 200
        (Get-Rgb $png 12 12)[1] | Should -BeGreaterThan 200
    }
}

Describe 'Photos' {
    It 'reads a PNG as a 2D image with pixel spacing 1 and writes it back' {
        $img = Get-PhotoImage (Join-Path $Samples 'BrainProtonDensitySlice.png')
        $img.Grid.Shape | Should -Be @(181, 217)
        $img.Grid.Spacing | Should -Be @(1, 1)
        $f = $img | Export-PhotoImage 'TestDrive:/copy.png'
        $back = Get-PhotoImage $f.FullName
        [Linq.Enumerable]::SequenceEqual($back.ToArray(), $img.ToArray()) | Should -BeTrue
    }

    It 'reports a corrupt picture as InvalidData and keeps going' {
        Set-Content 'TestDrive:/bad.png' -Value 'not a picture'
        $imgs = Get-PhotoImage 'TestDrive:/bad.png', (Join-Path $Samples 'dipy_circle.png') -ErrorVariable errs -ErrorAction SilentlyContinue
        @($imgs).Count | Should -Be 1
        $errs[0].CategoryInfo.Category | Should -Be 'InvalidData'
        $errs[0].Exception.Message | Should -Match 'bad.png'
    }
}
