# Issue 13: objects a PowerShell user can work with. Every test types what a user types on the built module.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')

    $script:N = 20
    $script:Grid2mm = [RegPS.Engine.Images.Grid]::Create3D($N, $N, $N, 2, 2, 2)
    function New-ShiftedBlob([double] $ShiftVoxels) {
        # A smooth blob whose centre sits $ShiftVoxels voxels (2 mm each) further along +x than the template's.
        $d = [float[]]::new($N * $N * $N); $c = ($N - 1) / 2
        for ($k = 0; $k -lt $N; $k++) { for ($j = 0; $j -lt $N; $j++) { for ($i = 0; $i -lt $N; $i++) {
            $x = $i - $c - $ShiftVoxels
            $r2 = $x * $x + 0.7 * ($j - $c) * ($j - $c) + 1.3 * ($k - $c) * ($k - $c)
            $d[($k * $N + $j) * $N + $i] = [float] (100 * [math]::Exp(-$r2 / 32))
        } } }
        [RegPS.Engine.Images.Image]::FromVoxels($Grid2mm, $d)
    }

    # A small BIDS-like tree: three subjects (one with a session) whose T1w is the template moved by a known shift.
    $script:Shifts = @{ '01' = 1.0; '02' = 2.0; '03' = -1.5 }   # voxels along +x; 2 mm voxels
    $script:Root = Join-Path $TestDrive 'bids'
    $files = @{
        '01' = 'sub-01/anat/sub-01_T1w.nii.gz'
        '02' = 'sub-02/ses-1/anat/sub-02_ses-1_T1w.nii.gz'
        '03' = 'sub-03/anat/sub-03_T1w.nii.gz'
    }
    foreach ($sub in $files.Keys) {
        $path = Join-Path $Root $files[$sub]
        $null = New-Item -ItemType Directory -Path (Split-Path $path) -Force
        $null = New-ShiftedBlob $Shifts[$sub] | Export-NiftiImage -Path $path
    }
    $script:TemplatePath = Join-Path $TestDrive 'tpl_T1w.nii.gz'
    $null = New-ShiftedBlob 0 | Export-NiftiImage -Path $TemplatePath
    $script:Template = Get-NiftiImage $TemplatePath
    $script:Images = Get-ChildItem $Root -Recurse -Filter *_T1w.nii.gz | Get-NiftiImage
    $script:Maps = $Images | Register-AffineImage -Static $Template -Transform Translation
}

Describe 'Registration results remember their inputs' {
    It 'names the file, subject and session each result came from' {
        $Maps.Count | Should -Be 3
        ($Maps | Sort-Object Subject).Subject | Should -Be @('01', '02', '03')
        ($Maps | Where-Object Subject -EQ '02').Session | Should -Be '1'
        ($Maps | Where-Object Subject -EQ '01').Session | Should -BeNullOrEmpty
        ($Maps | Where-Object Subject -EQ '02').MovingFile | Should -Be 'sub-02_ses-1_T1w.nii.gz'
        ($Maps | Where-Object Subject -EQ '03').MovingPath | Should -Be (Join-Path $Root 'sub-03/anat/sub-03_T1w.nii.gz')
        $Maps.StaticFile | Sort-Object -Unique | Should -Be 'tpl_T1w.nii.gz'
        $Maps[0].StaticPath | Should -Be $TemplatePath
    }

    It 'matches each result to its own subject, not to a position (the translation is that subject''s shift)' {
        foreach ($m in $Maps | Sort-Object Subject -Descending) {
            # moving(x) = template(x - 2 mm * shift): the static->moving map adds 2 mm * shift along x.
            $m.Translation[0] | Should -BeGreaterThan (2 * $Shifts[$m.Subject] - 0.1) -Because "sub-$($m.Subject)"
            $m.Translation[0] | Should -BeLessThan (2 * $Shifts[$m.Subject] + 0.1) -Because "sub-$($m.Subject)"
        }
    }

    It 'groups by session and selects columns by name' {
        $groups = $Maps | Group-Object Session
        ($groups | Where-Object Name -EQ '1').Group.Subject | Should -Be '02'
        ($groups | Where-Object Name -EQ '').Count | Should -Be 2
        $rows = $Maps | Select-Object Subject, MovingFile | Sort-Object Subject
        $rows[2].MovingFile | Should -Be 'sub-03_T1w.nii.gz'
    }

    It 'leaves Subject empty for a file name without BIDS entities, and still names the file' {
        $m = Register-AffineImage -Static $Template -Moving $Template -Transform Translation
        $m.Subject | Should -BeNullOrEmpty
        $m.MovingFile | Should -Be 'tpl_T1w.nii.gz'
        $computed = Register-AffineImage -Static $Template -Moving (New-ShiftedBlob 1) -Transform Translation
        $computed.MovingFile | Should -BeNullOrEmpty
        $computed.MovingPath | Should -BeNullOrEmpty
    }

    It 'carries its moving image, so an affine result pipes straight into Register-SynImage' {
        $affine = $Images | Register-AffineImage -Static $Template -Transform Translation
        $syn = $affine | Register-SynImage -Static $Template -LevelIterations 4, 2 -ErrorVariable err
        $err | Should -BeNullOrEmpty
        $syn.Count | Should -Be 3
        foreach ($d in $syn) {
            $d | Should -BeOfType ([RegPS.Engine.Registration.DiffeomorphicMap])
            $a = $affine | Where-Object Subject -EQ $d.Subject
            # -Prealign came from that subject's affine result, -Moving from the image it carried.
            $d.Prealign.Equals($a.Affine) | Should -BeTrue
            [object]::ReferenceEquals($d.Moving, $a.Moving) | Should -BeTrue
            $d.MovingFile | Should -Be $a.MovingFile
        }
        # The warp brings each subject onto the template better than the affine alone did.
        $s02 = $syn | Where-Object Subject -EQ '02'
        $warped = $s02.Transform($s02.Moving)
        $diff = 0.0; foreach ($i in 0..($warped.Voxels.Length - 1)) { $diff += [math]::Abs($warped.Voxels[$i] - $Template.Voxels[$i]) }
        $before = 0.0; $moved = $s02.Moving; foreach ($i in 0..($moved.Voxels.Length - 1)) { $before += [math]::Abs($moved.Voxels[$i] - $Template.Voxels[$i]) }
        $diff | Should -BeLessThan ($before / 4)
    }

    It 'applies a map given by position to images from the pipeline ($img | Invoke-RegTransform $map)' {
        $maps = $Images | Register-AffineImage -Static $Template -Transform Translation
        $m02 = $maps | Where-Object Subject -EQ '02'
        $img = $m02.Moving
        $piped = $img | Invoke-RegTransform $m02 -ErrorVariable err
        $err | Should -BeNullOrEmpty
        $positional = Invoke-RegTransform $img $m02
        $named = Invoke-RegTransform -Image $img -Transform $m02
        $piped.Shape | Should -Be $Template.Shape
        [Linq.Enumerable]::SequenceEqual([float[]] $piped.Voxels, [float[]] $named.Voxels) | Should -BeTrue
        [Linq.Enumerable]::SequenceEqual([float[]] $positional.Voxels, [float[]] $named.Voxels) | Should -BeTrue
        # and the result is that subject moved back onto the template (its shift undone)
        $diff = 0.0; foreach ($i in 0..($piped.Voxels.Length - 1)) { $diff += [math]::Abs($piped.Voxels[$i] - $Template.Voxels[$i]) }
        $before = 0.0; foreach ($i in 0..($img.Voxels.Length - 1)) { $before += [math]::Abs($img.Voxels[$i] - $Template.Voxels[$i]) }
        $diff | Should -BeLessThan ($before / 4)
    }
}

Describe 'Images and maps have the properties their views show' {
    It 'gives an image Name, Shape, VoxelSize and Orientation for Select-Object, Where-Object and Sort-Object' {
        $row = $Images | Select-Object Name, Shape, VoxelSize, Orientation | Where-Object Name -Like 'sub-02*'
        $row.Name | Should -Be 'sub-02_ses-1_T1w.nii.gz'
        $row.Shape | Should -Be @(20, 20, 20)
        $row.VoxelSize | Should -Be @(2, 2, 2)
        $row.Orientation | Should -Be 'RAS'
        ($Images | Sort-Object Name -Descending).Name | Should -Be @('sub-03_T1w.nii.gz', 'sub-02_ses-1_T1w.nii.gz', 'sub-01_T1w.nii.gz')
        @($Images | Where-Object Name -Like 'sub-0*').Count | Should -Be 3
    }

    It 'reports another orientation, anisotropic voxels and a 4th dimension' {
        # x towards Left (-), y towards Posterior (-), z towards Superior; voxels 1 x 1.5 x 3 mm; 2 volumes.
        $g = [RegPS.Engine.Images.Grid]::new(4, 5, 6, [RegPS.Engine.Images.Matrix4]::Scaling(-1, -1.5, 3), 3)
        $img = [RegPS.Engine.Images.Image]::new($g, [float[]]::new(240), 2)
        $img.Orientation | Should -Be 'LPS'
        $img.VoxelSize | Should -Be @(1, 1.5, 3)
        $img.Shape | Should -Be @(4, 5, 6, 2)
        $img.Name | Should -Be ''
    }

    It 'lets PowerShell read the voxels (Voxels.Length, Voxels[i], the indexer, Measure-Object)' {
        $g = [RegPS.Engine.Images.Grid]::Create3D(4, 3, 2)
        $values = [float[]] (0..23)
        $img = [RegPS.Engine.Images.Image]::FromVoxels($g, $values)
        $img.Voxels.Length | Should -Be 24
        $img.VoxelCount | Should -Be 24
        $img.Voxels[17] | Should -Be 17
        # x fastest: voxel (x=1, y=2, z=1) is 1 + 4*2 + 12*1 = 21
        $img[1, 2, 1] | Should -Be 21
        ($img.Voxels | Measure-Object -Sum).Sum | Should -Be 276
        $img.ToArray()[23] | Should -Be 23
    }

    It 'gives an affine map Translation, Rotation, Scale and Shear as properties' {
        $g = [RegPS.Engine.Images.Grid]::Create3D(8, 8, 8)
        $m = [RegPS.Engine.Images.Matrix4]::Translation(3, -4, 5) * [RegPS.Engine.Images.Matrix4]::Scaling(1.1, 0.9, 1.2)
        $map = [RegPS.Engine.Registration.AffineMap]::new($m, $g, $g)
        $row = $map | Select-Object Translation, Rotation, Scale, Shear
        $row.Translation | Should -Be @(3, -4, 5)
        foreach ($i in 0..2) {
            $row.Scale[$i] | Should -BeGreaterThan (@(1.1, 0.9, 1.2)[$i] - 1e-12)
            $row.Scale[$i] | Should -BeLessThan (@(1.1, 0.9, 1.2)[$i] + 1e-12)
            [math]::Abs($row.Rotation[$i]) | Should -BeLessThan 1e-9
            [math]::Abs($row.Shear[$i]) | Should -BeLessThan 1e-9
        }
    }

    It 'sorts and filters maps on those properties' {
        (@($Maps | Where-Object { $_.Translation[0] -gt 1 }).Subject | Sort-Object) | Should -Be @('01', '02')
        ($Maps | Sort-Object { $_.Translation[0] }).Subject | Should -Be @('03', '01', '02')
    }

    It 'gives rotations in degrees about the axis turned' {
        $g = [RegPS.Engine.Images.Grid]::Create3D(8, 8, 8)
        $maps = foreach ($deg in 15, 5, 10) {
            $t = $deg * [math]::PI / 180
            $rot = [RegPS.Engine.Images.Matrix4]::new([double[]] @([math]::Cos($t), -[math]::Sin($t), 0, 0, [math]::Sin($t), [math]::Cos($t), 0, 0, 0, 0, 1, 0, 0, 0, 0, 1))
            [RegPS.Engine.Registration.AffineMap]::new($rot, $g, $g)
        }
        $sorted = $maps | Sort-Object { [math]::Abs($_.Rotation[2]) }
        $sorted | ForEach-Object { [math]::Round([math]::Abs($_.Rotation[2]), 6) } | Should -Be @(5, 10, 15)
        $sorted | ForEach-Object { [math]::Abs($_.Rotation[0]) + [math]::Abs($_.Rotation[1]) } | ForEach-Object { $_ | Should -BeLessThan 1e-9 }
    }
}

Describe 'Matrices survive ConvertTo-Json and ConvertFrom-Json' {
    BeforeAll {
        $script:Map = $Maps | Where-Object Subject -EQ '02'
        $script:Back = $Map | ConvertTo-Json -WarningAction SilentlyContinue | ConvertFrom-Json
    }

    It 'writes the matrix as 4 rows of 4 numbers with every digit (Matrix), at ConvertTo-Json''s default depth' {
        $Back.Matrix.Count | Should -Be 4
        foreach ($i in 0..3) {
            $Back.Matrix[$i].Count | Should -Be 4
            foreach ($j in 0..3) { $Back.Matrix[$i][$j] | Should -Be $Map.Affine[$i, $j] }
        }
        $Back.Matrix[3] | Should -Be @(0, 0, 0, 1)
        $Back.Subject | Should -Be '02'
        $Back.MovingFile | Should -Be 'sub-02_ses-1_T1w.nii.gz'
    }

    It 'gives Register-AffineImage -Initial the same start from the JSON copy as from the map' {
        $moving = $Images | Where-Object Name -Like 'sub-02*'
        $fromMap = Register-AffineImage -Static $Template -Moving $moving -Transform Translation -Initial $Map
        $fromJson = Register-AffineImage -Static $Template -Moving $moving -Transform Translation -Initial $Back
        $fromRows = Register-AffineImage -Static $Template -Moving $moving -Transform Translation -Initial $Back.Matrix
        $fromJson.Affine.Equals($fromMap.Affine) | Should -BeTrue
        $fromRows.Affine.Equals($fromMap.Affine) | Should -BeTrue
        # One evaluation per level barely moves from the start: from the JSON copy it lands where the map's own start
        # does, and elsewhere than from the default start (centres of mass), so -Initial really was used.
        $oneFromMap = Register-AffineImage -Static $Template -Moving $moving -Transform Translation -LevelIterations 1, 1, 1, 1 -Initial $Map
        $oneFromJson = Register-AffineImage -Static $Template -Moving $moving -Transform Translation -LevelIterations 1, 1, 1, 1 -Initial $Back
        $oneDefault = Register-AffineImage -Static $Template -Moving $moving -Transform Translation -LevelIterations 1, 1, 1, 1
        $oneFromJson.Affine.Equals($oneFromMap.Affine) | Should -BeTrue
        $oneFromJson.Affine.Equals($oneDefault.Affine) | Should -BeFalse
    }

    It 'gives Register-SynImage -Prealign the matrix from the JSON copy' {
        $moving = $Images | Where-Object Name -Like 'sub-02*'
        $d = Register-SynImage -Static $Template -Moving $moving -Prealign $Back -LevelIterations 2
        $d.Prealign.Equals($Map.Affine) | Should -BeTrue
        $dj = $d | ConvertTo-Json -WarningAction SilentlyContinue | ConvertFrom-Json
        $d2 = Register-SynImage -Static $Template -Moving $moving -Prealign $dj -LevelIterations 2
        $d2.Prealign.Equals($Map.Affine) | Should -BeTrue
    }

    It 'refuses a JSON object whose matrix is not 4x4, naming what it got' {
        $bad = '{"Affine": [[1,0,0],[0,1,0],[0,0,1]]}' | ConvertFrom-Json
        { Register-AffineImage -Static $Template -Moving $Template -Initial $bad -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidRegistrationOptions,RegPS.Cmdlets.RegisterAffineImageCommand'
    }
}

Describe 'Writers take their output path from each input (delay-bind script blocks)' {
    It 'writes one NIfTI per piped image, named by a script block' {
        $out = Join-Path $TestDrive 'out-nifti'
        $null = New-Item -ItemType Directory $out
        $files = $Images | Export-NiftiImage -Path { Join-Path $out ($_.Name -replace '_T1w', '_desc-copy_T1w') }
        ($files.Name | Sort-Object) | Should -Be @('sub-01_desc-copy_T1w.nii.gz', 'sub-02_ses-1_desc-copy_T1w.nii.gz', 'sub-03_desc-copy_T1w.nii.gz')
        (Get-ChildItem $out).Count | Should -Be 3
        # each file holds the image it was named after
        $copy = Get-NiftiImage (Join-Path $out 'sub-03_desc-copy_T1w.nii.gz')
        $orig = $Images | Where-Object Name -EQ 'sub-03_T1w.nii.gz'
        $copy.Voxels[4321] | Should -Be $orig.Voxels[4321]
    }

    It 'writes one transform per piped map, named by its subject' {
        $out = Join-Path $TestDrive 'out-xfm'
        $null = New-Item -ItemType Directory $out
        $files = $Maps | Export-RegTransform -Path { Join-Path $out "sub-$($_.Subject)_xfm.txt" }
        ($files.Name | Sort-Object) | Should -Be @('sub-01_xfm.txt', 'sub-02_xfm.txt', 'sub-03_xfm.txt')
        $back = Import-RegTransform (Join-Path $out 'sub-03_xfm.txt')
        $back | Should -Not -BeNullOrEmpty
    }

    It 'takes -LiteralPath from a script block too' {
        $out = Join-Path $TestDrive 'out-literal[1]'
        $null = New-Item -ItemType Directory $out
        $files = $Images | Select-Object -First 2 | Export-NiftiImage -LiteralPath { Join-Path $out ("x_" + $_.Name) }
        $files.Count | Should -Be 2
        Test-Path -LiteralPath (Join-Path $out 'x_sub-01_T1w.nii.gz') | Should -BeTrue
    }
}

Describe 'Export-NiftiImage keeps the type it read unless the voxels were computed' {
    BeforeAll {
        $script:T1 = Join-Path $Samples 'KmeansTest_T1UCharRaw.nii.gz'   # int16 on disk
        $script:Out = Join-Path $TestDrive 'types'
        $null = New-Item -ItemType Directory $Out
        function Get-NiftiTypeCode([string] $Path) {
            # datatype (header bytes 70-71) of a .nii.gz, read directly: 4 = int16, 16 = float32.
            $fs = [IO.File]::OpenRead($Path)
            try {
                $gz = [IO.Compression.GZipStream]::new($fs, [IO.Compression.CompressionMode]::Decompress)
                $h = [byte[]]::new(348); $n = 0
                while ($n -lt 348) { $r = $gz.Read($h, $n, 348 - $n); if ($r -le 0) { break }; $n += $r }
                [BitConverter]::ToInt16($h, 70)
            }
            finally { $fs.Dispose() }
        }
    }

    It 're-saves an int16 file as int16 with the same values, and says so in -Verbose' {
        $img = Get-NiftiImage $T1
        $file = $img | Export-NiftiImage -Path (Join-Path $Out 'resaved.nii.gz') -Verbose 4>&1 |
            Tee-Object -Variable all | Where-Object { $_ -is [IO.FileInfo] }
        $verbose = $all | Where-Object { $_ -is [Management.Automation.VerboseRecord] }
        ($verbose.Message -join "`n") | Should -Match 'int16 \(the source''s type\)'
        Get-NiftiTypeCode $file.FullName | Should -Be 4
        $back = Get-NiftiImage $file.FullName
        $back.DataType | Should -Be 'int16'
        [Linq.Enumerable]::SequenceEqual($back.ToArray(), $img.ToArray()) | Should -BeTrue
    }

    It 'keeps the source''s scaling (scl_slope) when the values are the ones it read' {
        # A computed image with fractional values written as int16 gets a scl_slope; reading and re-saving keeps both.
        $g = [RegPS.Engine.Images.Grid]::Create3D(6, 5, 4)
        $values = [float[]] (0..119 | ForEach-Object { $_ * 0.25 - 7.5 })
        $scaled = Join-Path $Out 'scaled.nii.gz'
        $null = [RegPS.Engine.Images.Image]::FromVoxels($g, $values) | Export-NiftiImage -Path $scaled -DataType Int16
        $read = Get-NiftiImage $scaled
        $read.SourceHeader.SclSlope | Should -Not -Be 1
        $file = $read | Export-NiftiImage -Path (Join-Path $Out 'scaled-again.nii.gz')
        Get-NiftiTypeCode $file.FullName | Should -Be 4
        $again = Get-NiftiImage $file.FullName
        $again.SourceHeader.SclSlope | Should -Be $read.SourceHeader.SclSlope
        $again.SourceHeader.SclInter | Should -Be $read.SourceHeader.SclInter
        foreach ($i in 0, 37, 119) { $again.Voxels[$i] | Should -Be $read.Voxels[$i] }
    }

    It 'writes float32 for a warped or computed image, and what -DataType asks for' {
        $img = Get-NiftiImage $T1
        $g = $img.Grid
        $moved = [RegPS.Engine.Registration.AffineMap]::new([RegPS.Engine.Images.Matrix4]::Translation(0.5, 0, 0), $g, $g).Transform($img)
        $file = $moved | Export-NiftiImage -Path (Join-Path $Out 'moved.nii.gz') -Verbose 4>&1 |
            Tee-Object -Variable all | Where-Object { $_ -is [IO.FileInfo] }
        (($all | Where-Object { $_ -is [Management.Automation.VerboseRecord] }).Message -join "`n") | Should -Match 'float32 \(the voxels were computed'
        Get-NiftiTypeCode $file.FullName | Should -Be 16
        $forced = $img | Export-NiftiImage -Path (Join-Path $Out 'forced.nii.gz') -DataType Float32
        Get-NiftiTypeCode $forced.FullName | Should -Be 16
    }

    It 'writes an int16 file that nibabel reads as int16 with the same values' {
        $python = '/usr/bin/python3'
        if (-not (Test-Path $python)) { Set-ItResult -Skipped -Because "$python is not installed"; return }
        & $python -c 'import nibabel, numpy' 2>$null
        if ($LASTEXITCODE -ne 0) { Set-ItResult -Skipped -Because 'nibabel (python3-nibabel) is not installed'; return }
        $file = Get-NiftiImage $T1 | Export-NiftiImage -Path (Join-Path $Out 'for-nibabel.nii.gz')
        $script = "import nibabel as nib, numpy as np, sys`na = nib.load(sys.argv[1]); b = nib.load(sys.argv[2])`nprint(b.get_data_dtype(), bool(np.array_equal(np.asanyarray(a.dataobj), np.asanyarray(b.dataobj))))"
        $result = & $python -c $script $T1 $file.FullName
        $LASTEXITCODE | Should -Be 0
        $result | Should -Be 'int16 True'
    }
}

Describe 'Help says the defaults, explains every example and has an about topic' {
    BeforeAll {
        $script:Commands = Get-Command -Module RegPS -CommandType Cmdlet
    }

    It 'does not say "Default value: None" for a parameter the cmdlet gives a value' {
        $wrong = foreach ($c in $Commands) {
            $instance = [Activator]::CreateInstance($c.ImplementingType)
            $help = Get-Help $c.Name -Full
            foreach ($p in $help.parameters.parameter) {
                $prop = $c.ImplementingType.GetProperty($p.name)
                $v = $prop.GetValue($instance)
                $hasValue = $null -ne $v -and -not ($v -is [string] -and $v -eq '') -and
                    -not ($v -is [Array] -and $v.Length -eq 0) -and -not ($v -is [System.Management.Automation.SwitchParameter])
                if ($hasValue -and $p.defaultValue -eq 'None') { "$($c.Name) -$($p.name) (is $v)" }
            }
        }
        $wrong | Should -BeNullOrEmpty
    }

    It 'shows the defaults a user would look for' -ForEach @(
        @{ Cmd = 'Register-AffineImage'; Param = 'Bins'; Expected = '64' }
        @{ Cmd = 'Register-AffineImage'; Param = 'Seed'; Expected = '1234' }
        @{ Cmd = 'Register-AffineImage'; Param = 'Preset'; Expected = 'Default' }
        @{ Cmd = 'Register-AffineImage'; Param = 'Center'; Expected = 'GeometricCenter' }
        @{ Cmd = 'Register-AffineImage'; Param = 'Transform'; Expected = 'Translation, Rigid, Affine' }
        @{ Cmd = 'Register-AffineImage'; Param = 'Initial'; Expected = 'CentersOfMass' }
        @{ Cmd = 'Register-SynImage'; Param = 'Radius'; Expected = '2 (3D); 4 (2D); Dipy: 4' }
        @{ Cmd = 'Register-SynImage'; Param = 'StepScaling'; Expected = 'LevelMaximum (Dipy: EachIteration)' }
        @{ Cmd = 'Register-SynImage'; Param = 'ImageLevelInterpolation'; Expected = 'BSpline (Dipy: Linear)' }
        @{ Cmd = 'Register-SynImage'; Param = 'Preset'; Expected = 'Default' }
        @{ Cmd = 'Register-SynImage'; Param = 'StepLength'; Expected = '0.25' }
        @{ Cmd = 'Register-SynImage'; Param = 'LevelIterations'; Expected = '20, 20, 4 (3D); 30, 40, 40 (2D); Dipy: 100, 100, 25' }
        @{ Cmd = 'Export-NiftiImage'; Param = 'Force'; Expected = 'False' }
    ) {
        (Get-Help $Cmd -Parameter $Param).defaultValue | Should -Be $Expected
    }

    It 'tells Export-NiftiImage users that the source type is kept' {
        (Get-Help Export-NiftiImage -Parameter DataType).defaultValue | Should -Match '^Source for voxels as read from a NIfTI file'
    }

    It 'has remarks under every example of every cmdlet' {
        $bare = foreach ($c in $Commands) {
            foreach ($ex in (Get-Help $c.Name -Full).examples.example) {
                if (-not (($ex.remarks | Out-String).Trim())) { "$($c.Name): $($ex.title)" }
            }
        }
        $bare | Should -BeNullOrEmpty
    }

    It 'ships about_RegPS, found by Get-Help, with the concepts a user needs' {
        $about = Get-Help about_RegPS | Out-String
        $about | Should -Match 'GRIDS AND WORLD COORDINATES'
        $about | Should -Match 'WHICH WAY A MAP POINTS: STATIC TO MOVING'
        $about | Should -Match 'PRESETS'
        $about | Should -Match 'Register-SynImage -Preset Default'
        $about | Should -Match 'CHAINING TRANSFORMS'
        $about | Should -Match 'WORKING WITH RESULTS IN POWERSHELL'
        $about | Should -Match 'THREADS AND TIMING'
        Test-Path (Join-Path $ModuleDir 'en-US/about_RegPS.help.txt') | Should -BeTrue
    }
}

Describe 'The default views name the input' {
    It 'shows the moving file, subject and session of a result, and leaves them out when there are none' {
        $text = $Maps | Where-Object Subject -EQ '02' | Out-String
        $text | Should -Match 'MovingFile\s*:\s*sub-02_ses-1_T1w\.nii\.gz'
        $text | Should -Match 'Subject\s*:\s*02'
        $text | Should -Match 'Session\s*:\s*1'
        $g = [RegPS.Engine.Images.Grid]::Create3D(8, 8, 8)
        $plain = [RegPS.Engine.Registration.AffineMap]::new([RegPS.Engine.Images.Matrix4]::Identity, $g, $g) | Out-String
        $plain | Should -Not -Match 'Subject'
        $plain | Should -Match 'Translation'
    }
}
