BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:T1 = Join-Path $Samples 'KmeansTest_T1UCharRaw.nii.gz'
    # A small BIDS-like tree: three good subjects (one in a session folder) and one corrupt file.
    foreach ($s in '01', '02') {
        $null = New-Item -ItemType Directory "TestDrive:/bids/sub-$s/anat"
        Copy-Item $T1 "TestDrive:/bids/sub-$s/anat/sub-${s}_T1w.nii.gz"
    }
    $null = New-Item -ItemType Directory 'TestDrive:/bids/sub-03/ses-1/anat'
    Copy-Item $T1 'TestDrive:/bids/sub-03/ses-1/anat/sub-03_ses-1_T1w.nii.gz'
    $null = New-Item -ItemType Directory 'TestDrive:/bids/sub-04/anat'
    $bytes = [IO.File]::ReadAllBytes($T1)
    [IO.File]::WriteAllBytes((Join-Path (Get-PSDrive TestDrive).Root 'bids/sub-04/anat/sub-04_T1w.nii.gz'), $bytes[0..2000])
}

Describe 'Get-NiftiImage' {
    It 'reads a real T1 with its shape, voxel size and orientation' {
        $img = Get-NiftiImage $T1
        $img | Should -BeOfType ([RegPS.Engine.Images.Image])
        $img.Grid.Shape | Should -Be @(128, 128, 62)
        $img.Grid.Spacing | Should -Be @(2, 2, 3)
        $img.Grid.Orientation | Should -Be 'LSA'
        $img.DataType | Should -Be 'int16'
        $img.SourcePath | Should -Be (Resolve-Path $T1).ProviderPath
    }

    It 'reads a pipeline of subjects, reporting the corrupt one as a non-terminating error' {
        $files = Get-ChildItem 'TestDrive:/bids' -Recurse -Filter '*_T1w.nii.gz'
        $files.Count | Should -Be 4
        $images = $files | Get-NiftiImage -ErrorVariable errs -ErrorAction SilentlyContinue
        $images.Count | Should -Be 3
        $errs.Count | Should -Be 1
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'NiftiReadFailed*'
        $errs[0].CategoryInfo.Category | Should -Be 'InvalidData'
        $errs[0].TargetObject | Should -BeLike '*sub-04_T1w.nii.gz'
        $errs[0].Exception.Message | Should -BeLike '*sub-04_T1w.nii.gz*'
    }

    It 'expands wildcards in -Path and resolves relative paths against the PowerShell location' {
        Push-Location 'TestDrive:/bids'
        try {
            (Get-NiftiImage -Path 'sub-0[12]/anat/*_T1w.nii.gz').Count | Should -Be 2
            (Get-NiftiImage ./sub-01/anat/sub-01_T1w.nii.gz).Grid.NX | Should -Be 128
        }
        finally { Pop-Location }
    }

    It 'takes -LiteralPath for names with wildcard characters' {
        Copy-Item $T1 'TestDrive:/odd[1].nii.gz'
        (Get-NiftiImage -LiteralPath 'TestDrive:/odd[1].nii.gz').Grid.NZ | Should -Be 62
    }

    It 'reports a missing file as ObjectNotFound' {
        $null = Get-NiftiImage -LiteralPath 'TestDrive:/nope.nii' -ErrorVariable errs -ErrorAction SilentlyContinue
        $errs[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }
}

Describe 'Export-NiftiImage' {
    It 'writes a file that reads back with the same grid and values' {
        $img = Get-NiftiImage $T1
        $file = $img | Export-NiftiImage 'TestDrive:/out/../copy.nii.gz'
        $file | Should -BeOfType ([IO.FileInfo])
        $back = Get-NiftiImage $file.FullName
        $back.Grid.GridToWorld.MaxAbsDifference($img.Grid.GridToWorld) | Should -BeLessThan 1e-5
        [Linq.Enumerable]::SequenceEqual($back.ToArray(), $img.ToArray()) | Should -BeTrue
        $back.DataType | Should -Be 'int16'   # the voxels are as read, so the file keeps its type (issue 13)
    }

    It 'keeps the source data type with -DataType Source' {
        $file = Get-NiftiImage $T1 | Export-NiftiImage 'TestDrive:/int16.nii' -DataType Source
        (Get-NiftiImage $file.FullName).DataType | Should -Be 'int16'
        $file.Length | Should -BeLessThan (128 * 128 * 62 * 2 + 1000)
    }

    It 'writes nothing with -WhatIf' {
        Get-NiftiImage $T1 | Export-NiftiImage 'TestDrive:/whatif.nii.gz' -WhatIf
        'TestDrive:/whatif.nii.gz' | Should -Not -Exist
    }

    It 'refuses to overwrite without -Force and overwrites with it' {
        $img = Get-NiftiImage $T1
        $null = $img | Export-NiftiImage 'TestDrive:/twice.nii'
        $null = $img | Export-NiftiImage 'TestDrive:/twice.nii' -ErrorVariable errs -ErrorAction SilentlyContinue
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'FileExists*'
        { $img | Export-NiftiImage 'TestDrive:/twice.nii' -Force -ErrorAction Stop } | Should -Not -Throw
    }

    It 'rejects an extension it cannot write, and writes nothing' {
        $img = Get-NiftiImage $T1
        $null = $img | Export-NiftiImage 'TestDrive:/bad.txt' -ErrorVariable errs -ErrorAction SilentlyContinue
        $errs.Count | Should -Be 1
        Get-ChildItem TestDrive:/ -Filter '*bad*' -Force | Should -BeNullOrEmpty
    }
}

Describe 'Convert-RegImage' {
    It 'resamples a volume onto another grid so that world positions keep their values' {
        $img = Get-NiftiImage $T1
        # Reference: the same field of view at 4 mm voxels.
        $g = $img.Grid
        $m = $g.GridToWorld * [RegPS.Engine.Images.Matrix4]::Scaling(2, 2, 2)
        $refGrid = [RegPS.Engine.Images.Grid]::new(64, 64, 31, $m, 3)
        $ref = [RegPS.Engine.Images.Image]::FromVoxels($refGrid, [float[]]::new(64 * 64 * 31))
        $out = $img | Convert-RegImage -Reference $ref -Interpolation Nearest
        $out.Grid.Shape | Should -Be @(64, 64, 31)
        $out[10, 20, 5] | Should -Be $img[20, 40, 10]
        $out[31, 32, 15] | Should -Be $img[62, 64, 30]
    }

    It 'runs inside ForEach-Object -Parallel' {
        $img = Get-NiftiImage $T1
        $dir = $ModuleDir
        $shapes = 1..2 | ForEach-Object -Parallel {
            Import-Module (Join-Path $using:dir 'RegPS.psd1')
            ($using:img | Convert-RegImage -Reference $using:img -MaxDegreeOfParallelism 1).Grid.NX
        } -ThrottleLimit 2
        $shapes | Should -Be @(128, 128)
    }
}
