# Hostile and broken inputs, and what a killed run leaves behind (issue 14, sections 2 and 3), as a user meets them.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:Root = (Get-PSDrive TestDrive).Root
    $script:Pd = Get-PhotoImage (Join-Path $Samples 'BrainProtonDensitySlice.png')

    function New-StaleTemporary([string] $Folder, [string] $Target) {
        $p = Join-Path $Folder ('.{0}.{1}.tmp' -f $Target, [guid]::NewGuid().ToString('N'))
        [IO.File]::WriteAllBytes($p, [byte[]]::new(64))
        [IO.File]::SetLastWriteTimeUtc($p, [DateTime]::UtcNow.AddHours(-1))
        $p
    }
}

Describe 'Transform manifests stay inside their folder' {
    BeforeAll {
        $null = New-Item -ItemType Directory "$Root/maps", "$Root/other"
        $map = [RegPS.Engine.Registration.AffineMap]::new([RegPS.Engine.Images.Matrix4]::Translation(3, -2, 0), $Pd.Grid, $Pd.Grid)
        $null = $map | Export-RegTransform -Path "$Root/other/evil.json"
        $null = $map | Export-RegTransform -Path "$Root/maps/good.json"
        function script:Set-AffineEntry([string] $Entry) {
            $j = Get-Content "$Root/maps/good.json" -Raw | ConvertFrom-Json
            $j.affine = $Entry
            $name = "$Root/maps/m$([guid]::NewGuid().ToString('N')).json"
            $j | ConvertTo-Json -Depth 8 | Set-Content $name
            $name
        }
    }

    It 'Import-RegTransform refuses <Entry> naming the manifest and the entry' -ForEach @(
        @{ Entry = '../other/evil_affine.mat' }
        @{ Entry = '../../../../../../../../etc/passwd' }
        @{ Entry = '/etc/passwd' }
        @{ Entry = 'ABSOLUTE' }
    ) {
        if ($Entry -eq 'ABSOLUTE') { $Entry = Join-Path $Root 'other/evil_affine.mat' }
        $m = Set-AffineEntry $Entry
        $r = Import-RegTransform -LiteralPath $m -ErrorVariable errs -ErrorAction SilentlyContinue
        $r | Should -BeNullOrEmpty
        $errs.Count | Should -Be 1
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'TransformReadFailed*'
        $errs[0].CategoryInfo.Category | Should -Be 'InvalidData'
        $errs[0].Exception.Message | Should -BeLike "*$m*`"affine`"*'$Entry'*manifest's own folder*"
        $errs[0].Exception.Message | Should -Not -BeLike '*root:*'
    }

    It 'Import-RegTransform refuses a link out of the folder, and reads the good manifest' {
        $m = Set-AffineEntry 'link.mat'
        $null = New-Item -ItemType SymbolicLink -Path "$Root/maps/link.mat" -Target "$Root/other/evil_affine.mat"
        { Import-RegTransform -LiteralPath $m -ErrorAction Stop } | Should -Throw "*'link.mat'*link to a file outside*"
        (Import-RegTransform -LiteralPath "$Root/maps/good.json").Affine.ToArray()[3] | Should -Be 3
    }

    It 'Invoke-RegTransform -Path refuses a manifest that leaves its folder' {
        $m = Set-AffineEntry '../other/evil_affine.mat'
        { $Pd | Invoke-RegTransform -Path $m } | Should -Throw "*$m*'../other/evil_affine.mat'*"
    }
}

Describe 'Errors that say what and where' {
    It 'Get-NiftiImage -LiteralPath on a folder says it is a folder' {
        $null = New-Item -ItemType Directory "$Root/afolder.nii.gz"
        $r = Get-NiftiImage -LiteralPath "$Root/afolder.nii.gz" -ErrorVariable errs -ErrorAction SilentlyContinue
        $r | Should -BeNullOrEmpty
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'PathIsDirectory*'
        $errs[0].Exception.Message | Should -BeLike '*afolder.nii.gz* is a directory*'
    }

    It 'Register-AffineImage calls an all-NaN image that, naming its file, and an all-zero mask a mask' {
        $v = [float[]]::new($Pd.Grid.VoxelCount); [Array]::Fill($v, [float]::NaN)
        $nan = [RegPS.Engine.Images.Image]::new($Pd.Grid, $v, 1, $null, '/data/nan.png', 'float32')
        $null = Register-AffineImage -Static $Pd -Moving $nan -ErrorVariable errs -ErrorAction SilentlyContinue
        $errs[0].Exception.Message | Should -BeLike "*moving image '/data/nan.png' has no finite voxels*"
        $errs[0].CategoryInfo.Category | Should -Be 'InvalidArgument'

        $zero = [RegPS.Engine.Images.Image]::new($Pd.Grid, [float[]]::new($Pd.Grid.VoxelCount))
        $null = Register-AffineImage -Static $Pd -Moving $Pd -StaticMask $zero -ErrorVariable errs2 -ErrorAction SilentlyContinue
        $errs2[0].Exception.Message | Should -BeLike '*static mask is all zero*BrainProtonDensitySlice.png*'
        $errs2[0].Exception.Message | Should -Not -BeLike '*constant*'
    }
}

Describe 'Temporaries left by a killed write' {
    It 'Export-NiftiImage removes stale temporaries beside its target, says so in -Verbose, and leaves a live one' {
        $dir = New-Item -ItemType Directory "$Root/export"
        $stale = New-StaleTemporary $dir 'a.nii.gz'
        $live = New-StaleTemporary $dir 'b.nii.gz'
        $mine = Join-Path $dir 'notes.tmp'; Set-Content $mine 'keep'
        $hold = [IO.FileStream]::new($live, 'Open', 'Write', 'None')   # a writer that is still running
        try {
            $verbose = New-TestVolume -N 8 | Export-NiftiImage -Path "$dir/out.nii.gz" -Verbose 4>&1 |
                Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        }
        finally { $hold.Dispose() }
        Test-Path $stale | Should -BeFalse
        Test-Path $live | Should -BeTrue
        Test-Path $mine | Should -BeTrue
        Test-Path "$dir/out.nii.gz" | Should -BeTrue
        ($verbose.Message -join "`n") | Should -BeLike "*Removed '$stale'*interrupted RegPS write*"
    }

    It 'Invoke-BidsRegistration clears a killed run''s temporaries from its output tree at the start' {
        $out = "$Root/derivatives"
        $anat = New-Item -ItemType Directory "$out/sub-01/anat"
        $stale = New-StaleTemporary $anat 'sub-01_space-Tiny_desc-preproc_T1w.nii.gz'
        $verbose = @() | Invoke-BidsRegistration -Template (New-TestVolume -N 8) -TemplateName Tiny -OutputRoot $out -Verbose 4>&1 |
            Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        Test-Path $stale | Should -BeFalse
        ($verbose.Message -join "`n") | Should -BeLike "*Removed '$stale'*"
    }
}
