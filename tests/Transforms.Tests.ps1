BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')

    function New-Field {
        # A smooth displacement field (RAS mm) on the grid of $Image.
        param($Grid)
        $n = $Grid.VoxelCount
        $v = [float[]]::new(3 * $n)
        for ($k = 0; $k -lt $Grid.NZ; $k++) { for ($j = 0; $j -lt $Grid.NY; $j++) { for ($i = 0; $i -lt $Grid.NX; $i++) {
            $o = 3 * $Grid.Index($i, $j, $k)
            $v[$o] = [float] (1.5 * [math]::Sin($j / 4)); $v[$o + 1] = [float] (-1.0 * [math]::Cos($i / 5)); $v[$o + 2] = [float] 0.5
        } } }
        [RegPS.Engine.Registration.DisplacementField]::new($Grid, $v)
    }

    $script:Vol = New-TestVolume -N 20
    $script:Affine = [RegPS.Engine.Registration.AffineMap]::new(
        [RegPS.Engine.Images.Matrix4]::new([double[]] @(0.99, -0.1, 0, 1.5, 0.1, 0.99, 0, -2, 0, 0, 1, 0.7, 0, 0, 0, 1)), $Vol.Grid, $Vol.Grid)
    $script:Field = New-Field $Vol.Grid
    $script:Warp = Join-Path $TestDrive '1Warp.nii.gz'
    [RegPS.Engine.TransformFiles.DisplacementFieldFile]::Write($Warp, $Field)
}

Describe 'Export-RegTransform formats' {
    It 'writes a real ITK HDF5 file for .h5' {
        $f = $Affine | Export-RegTransform 'TestDrive:/x.h5'
        $bytes = [IO.File]::ReadAllBytes($f.FullName)
        [Text.Encoding]::ASCII.GetString($bytes, 1, 3) | Should -Be 'HDF'
        $back = Import-RegTransform $f.FullName
        $back | Should -BeOfType ([RegPS.Engine.Transforms.TransformChain])
        $back.Steps[0].Matrix.MaxAbsDifference($Affine.Affine) | Should -BeLessThan 1e-12
    }

    It 'refuses an unknown extension and writes nothing' {
        $null = $Affine | Export-RegTransform 'TestDrive:/x.xfm' -ErrorVariable errs -ErrorAction SilentlyContinue
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'UnknownTransformExtension*'
        'TestDrive:/x.xfm' | Should -Not -Exist
    }

    It 'writes the ITK text type line Connectome Workbench reads' {
        $f = $Affine | Export-RegTransform 'TestDrive:/a.txt'
        (Get-Content $f.FullName)[2] | Should -Be 'Transform: MatrixOffsetTransformBase_double_3_3'
    }
}

Describe 'Import-RegTransform reads what ANTs writes' {
    It 'reads a bare 1Warp.nii.gz as a displacement field with its own grid' {
        $c = Import-RegTransform $Warp
        $c | Should -BeOfType ([RegPS.Engine.Transforms.TransformChain])
        $c.Steps[0] | Should -BeOfType ([RegPS.Engine.Transforms.DisplacementFieldStep])
        $c.Steps[0].Field.Grid.SameAs($Vol.Grid, 1e-5) | Should -BeTrue
    }

    It 'says a gzip file given as a text transform is gzip' {
        Copy-Item $Warp 'TestDrive:/warp.txt'
        $null = Import-RegTransform 'TestDrive:/warp.txt' -ErrorVariable errs -ErrorAction SilentlyContinue
        $errs[0].Exception.Message | Should -Match 'gzip'
        $errs[0].Exception.Message | Should -Match 'warp\.txt'
        $errs[0].CategoryInfo.Category | Should -Be 'InvalidData'
    }

    It 'reads an ITK text affine without grids, and Invoke-RegTransform asks for -Reference' {
        $f = $Affine | Export-RegTransform 'TestDrive:/b.tfm'
        $c = Import-RegTransform $f.FullName
        $c.Steps[0] | Should -BeOfType ([RegPS.Engine.Transforms.AffineStep])
        $null = $Vol | Invoke-RegTransform -Transform $c -ErrorVariable errs -ErrorAction SilentlyContinue
        $errs[0].Exception.Message | Should -Match '-Reference'
        ($Vol | Invoke-RegTransform -Transform $c -Reference $Vol).Grid.SameAs($Vol.Grid, 0) | Should -BeTrue
    }
}

Describe 'Invoke-RegTransform with chains' {
    It 'takes -Invert masks and [transform, $true] pairs alike, and files alike' {
        $mask = $Vol | Invoke-RegTransform -Transform $Affine, $Warp -Invert $true, $false -Reference $Vol
        $pair = $Vol | Invoke-RegTransform -Transform @(@($Affine, $true), $Warp) -Reference $Vol
        [Linq.Enumerable]::SequenceEqual($mask.ToArray(), $pair.ToArray()) | Should -BeTrue
        $none = $Vol | Invoke-RegTransform -Transform $Affine, $Warp -Reference $Vol
        [Linq.Enumerable]::SequenceEqual($mask.ToArray(), $none.ToArray()) | Should -BeFalse
    }

    It 'refuses an -Invert mask of the wrong length' {
        { $Vol | Invoke-RegTransform -Transform $Affine, $Warp -Invert $true -ErrorAction Stop } | Should -Throw -ErrorId 'InvertLengthMismatch*'
    }

    It 'uses the field''s grid by default and -DefaultValue outside the input' {
        $shifted = [RegPS.Engine.Registration.AffineMap]::new([RegPS.Engine.Images.Matrix4]::Translation(15, 0, 0), $Vol.Grid, $Vol.Grid)
        $r = $Vol | Invoke-RegTransform -Transform $shifted, $Warp -DefaultValue -5
        $r.Grid.SameAs($Vol.Grid, 1e-5) | Should -BeTrue
        # A 15 mm shift (7.5 voxels) of a 20-voxel image: the last columns come from outside.
        $r[19, 10, 10] | Should -Be -5
    }

    It 'takes a grid as shape and affine' {
        $r = $Vol | Invoke-RegTransform -Transform $Affine -Reference @{ Shape = 10, 12, 8; Affine = @(@(4, 0, 0, 0), @(0, 4, 0, 0), @(0, 0, 4, 0), @(0, 0, 0, 1)) } -Interpolation BSpline
        $r.Grid.Shape | Should -Be @(10, 12, 8)
        $r.Grid.Spacing[0] | Should -Be 4
    }

    It 'keeps labels with GenericLabel' {
        $labels = $Vol.WithVoxels([float[]] ($Vol.ToArray() | ForEach-Object { if ($_ -gt 50) { 2 } elseif ($_ -gt 10) { 5 } else { 0 } }))
        $r = $labels | Invoke-RegTransform -Transform $Affine, $Warp -Interpolation GenericLabel -Reference $Vol
        $r.ToArray() | Sort-Object -Unique | Should -Be @(0, 2, 5)
    }

    It 'applies an .h5 composite of a diffeomorphic map like the map' {
        $map = [RegPS.Engine.Registration.DiffeomorphicMap]::new($Affine.Affine, $Vol.Grid, $Vol.Grid, $Field, $Field)
        $f = $map | Export-RegTransform 'TestDrive:/sub-01_from-T1w_to-X_mode-image_xfm.h5'
        $viaFile = $Vol | Invoke-RegTransform -Transform $f.FullName -Reference $Vol
        $viaMap = $Vol | Invoke-RegTransform -Transform $map -Reference $Vol
        [Linq.Enumerable]::SequenceEqual($viaFile.ToArray(), $viaMap.ToArray()) | Should -BeTrue
    }
}

Describe 'Invoke-RegTransform with the transforms by position and the images from the pipeline' {
    It 'applies a map given by position to piped images as -Transform does ($img | Invoke-RegTransform $map)' {
        # A shift of 4 mm along x (2 voxels of 2 mm): output voxel i is input voxel i + 2 (out(x) = in(A x)).
        $shift = [RegPS.Engine.Registration.AffineMap]::new([RegPS.Engine.Images.Matrix4]::Translation(4, 0, 0), $Vol.Grid, $Vol.Grid)
        $piped = $Vol | Invoke-RegTransform $shift
        $named = $Vol | Invoke-RegTransform -Transform $shift
        [Linq.Enumerable]::SequenceEqual($piped.ToArray(), $named.ToArray()) | Should -BeTrue
        [Linq.Enumerable]::SequenceEqual((Invoke-RegTransform $Vol $shift).ToArray(), $named.ToArray()) | Should -BeTrue
        [Linq.Enumerable]::SequenceEqual((Invoke-RegTransform -Image $Vol -Transform $shift).ToArray(), $named.ToArray()) | Should -BeTrue
        foreach ($p in @(@(3, 9, 11), @(10, 10, 10), @(15, 4, 7))) {
            $piped[$p[0], $p[1], $p[2]] | Should -Be $Vol[($p[0] + 2), $p[1], $p[2]]
        }
        $piped[19, 10, 10] | Should -Be 0   # from outside the input
    }

    It 'applies an affine and a chain given by position, to each piped image' {
        $other = $Vol.WithVoxels([float[]] ($Vol.ToArray() | ForEach-Object { 2 * $_ + 1 }))
        $piped = @($Vol, $other | Invoke-RegTransform $Affine -Reference $Vol)
        $piped.Count | Should -Be 2
        [Linq.Enumerable]::SequenceEqual($piped[0].ToArray(), ($Vol | Invoke-RegTransform -Transform $Affine -Reference $Vol).ToArray()) | Should -BeTrue
        [Linq.Enumerable]::SequenceEqual($piped[1].ToArray(), ($other | Invoke-RegTransform -Transform $Affine -Reference $Vol).ToArray()) | Should -BeTrue
        $named = $Vol | Invoke-RegTransform -Transform $Affine, $Warp -Reference $Vol
        $list = $Vol | Invoke-RegTransform $Affine, $Warp -Reference $Vol        # one positional list
        $two = $Vol | Invoke-RegTransform $Affine $Warp -Reference $Vol           # two positional arguments
        [Linq.Enumerable]::SequenceEqual($list.ToArray(), $named.ToArray()) | Should -BeTrue
        [Linq.Enumerable]::SequenceEqual($two.ToArray(), $named.ToArray()) | Should -BeTrue
        # a pair inverts its transform in this form too, and -Invert counts the positional transforms
        $pair = $Vol | Invoke-RegTransform (, @($Affine, $true)) $Warp -Reference $Vol
        $mask = $Vol | Invoke-RegTransform $Affine, $Warp -Invert $true, $false -Reference $Vol
        [Linq.Enumerable]::SequenceEqual($pair.ToArray(), $mask.ToArray()) | Should -BeTrue
        [Linq.Enumerable]::SequenceEqual($pair.ToArray(), $named.ToArray()) | Should -BeFalse
    }

    It 'refuses a wrong argument with an error that names it' {
        { Invoke-RegTransform $Affine $Vol -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidImage*'
        { Invoke-RegTransform 'TestDrive:/sub-01_T1w.nii.gz' $Affine -ErrorAction Stop } | Should -Throw '*takes an image, not a String*'
        { $Vol | Invoke-RegTransform $Vol $Affine -ErrorAction Stop } | Should -Throw -ErrorId 'ImageGivenTwice*'
        { $Vol | Invoke-RegTransform 42 -ErrorAction Stop } | Should -Throw '*got Int32*'
        { Invoke-RegTransform $Vol -ErrorAction Stop } | Should -Throw -ErrorId 'TransformMissing*'
        { Invoke-RegTransform -Transform $Affine -ErrorAction Stop } | Should -Throw -ErrorId 'ImageMissing*'
    }
}

Describe 'TransformChain display' {
    It 'shows its steps and their order in the default view' {
        $text = Import-RegTransform $Warp | Out-String
        $text | Should -Match 'displacement field'
        $text | Should -Match 'ITK composite order'
    }
}
