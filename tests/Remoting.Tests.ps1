# Issue 13: images, maps, transform chains and BIDS results returned by Start-Job (another process, PowerShell's
# serializer in between, as Invoke-Command and remote sessions use) come back usable. One job does all the work.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')

    $script:N = 20
    $script:Grid2mm = [RegPS.Engine.Images.Grid]::Create3D($N, $N, $N, 2, 2, 2)
    function New-ShiftedBlob([double] $ShiftVoxels) {
        $d = [float[]]::new($N * $N * $N); $c = ($N - 1) / 2
        for ($k = 0; $k -lt $N; $k++) { for ($j = 0; $j -lt $N; $j++) { for ($i = 0; $i -lt $N; $i++) {
            $x = $i - $c - $ShiftVoxels
            $r2 = $x * $x + 0.7 * ($j - $c) * ($j - $c) + 1.3 * ($k - $c) * ($k - $c)
            $d[($k * $N + $j) * $N + $i] = [float] (1000 * [math]::Exp(-$r2 / 32))
        } } }
        [RegPS.Engine.Images.Image]::FromVoxels($Grid2mm, $d)
    }

    # Inputs both processes read: a template, a BIDS tree (two subjects, one in a session, one corrupt file), int16 files.
    $script:Root = Join-Path $TestDrive 'remote'
    $script:Bids = Join-Path $Root 'bids'
    $script:TemplatePath = Join-Path $Root 'tpl_T1w.nii.gz'
    $null = New-Item -ItemType Directory -Force (Join-Path $Bids 'sub-01/anat'), (Join-Path $Bids 'sub-02/ses-1/anat'), (Join-Path $Bids 'sub-03/anat')
    $null = New-ShiftedBlob 0 | Export-NiftiImage -Path $TemplatePath -DataType Int16
    $script:Sub01 = Join-Path $Bids 'sub-01/anat/sub-01_T1w.nii.gz'
    $null = New-ShiftedBlob 1.5 | Export-NiftiImage -Path $Sub01 -DataType Int16
    $null = New-ShiftedBlob -1 | Export-NiftiImage -Path (Join-Path $Bids 'sub-02/ses-1/anat/sub-02_ses-1_T1w.nii.gz') -DataType Int16
    [IO.File]::WriteAllBytes((Join-Path $Bids 'sub-03/anat/sub-03_T1w.nii.gz'), [IO.File]::ReadAllBytes($Sub01)[0..999])
    $script:Out = Join-Path $Root 'derivatives'

    $job = Start-Job -ArgumentList $ModuleDir, $Root -ScriptBlock {
        param($ModuleDir, $Root)
        Import-Module (Join-Path $ModuleDir 'RegPS.psd1')
        $tpl = Get-NiftiImage (Join-Path $Root 'tpl_T1w.nii.gz')
        $img = Get-NiftiImage (Join-Path $Root 'bids/sub-01/anat/sub-01_T1w.nii.gz')
        $affine = $img | Register-AffineImage -Static $tpl -Transform Translation
        $syn = $affine | Register-SynImage -Static $tpl -LevelIterations 4, 2
        $h5 = Join-Path $Root 'syn_xfm.h5'
        $null = $syn | Export-RegTransform -Path $h5
        $chain = Import-RegTransform $h5
        # What each object gives in the process that made it, for the parent to compare with.
        $img
        $affine
        $syn
        $chain
        Invoke-RegTransform $img $affine
        Invoke-RegTransform $img $syn
        Invoke-RegTransform $img $chain
        Get-ChildItem (Join-Path $Root 'bids/sub-*/anat/*_T1w.nii.gz'), (Join-Path $Root 'bids/sub-*/ses-*/anat/*_T1w.nii.gz') |
            Invoke-BidsRegistration -Template $tpl -TemplateName Tiny -OutputRoot (Join-Path $Root 'derivatives') -LevelIterations 4, 2 -ErrorAction SilentlyContinue
    }
    $script:Received = @($job | Receive-Job -Wait -AutoRemoveJob)
    $script:Template = Get-NiftiImage $TemplatePath
    $script:Local = Get-NiftiImage $Sub01
}

Describe 'Objects returned by Start-Job are the live objects again' {
    It 'comes back as images, maps and a chain, not Deserialized property bags' {
        $Received.Count | Should -Be 10
        $Received[0] | Should -BeOfType ([RegPS.Engine.Images.Image])
        $Received[1] | Should -BeOfType ([RegPS.Engine.Registration.AffineMap])
        $Received[2] | Should -BeOfType ([RegPS.Engine.Registration.DiffeomorphicMap])
        $Received[3] | Should -BeOfType ([RegPS.Engine.Transforms.TransformChain])
        foreach ($i in 4..6) { $Received[$i] | Should -BeOfType ([RegPS.Engine.Images.Image]) }
        foreach ($o in $Received[0..6]) { $o.pstypenames[0] | Should -Not -BeLike 'Deserialized.*' }
    }

    It 'keeps an image''s voxels, grid, file name and source type (an int16 file re-saved stays int16)' {
        $img = $Received[0]
        [Linq.Enumerable]::SequenceEqual($img.ToArray(), $Local.ToArray()) | Should -BeTrue
        $img.Grid.Equals($Local.Grid) | Should -BeTrue
        $img.Name | Should -Be 'sub-01_T1w.nii.gz'
        $img.DataType | Should -Be 'int16'
        $img.VoxelsAreSource | Should -BeTrue
        $file = $img | Export-NiftiImage -Path (Join-Path $Root 'resaved.nii.gz')
        (Get-NiftiImage $file.FullName).DataType | Should -Be 'int16'
    }

    It 'keeps a map''s matrix bit for bit, the registration''s report and the inputs it names' {
        $a = $Received[1]
        $here = $Local | Register-AffineImage -Static $Template -Transform Translation
        $a.Affine.Equals($here.Affine) | Should -BeTrue   # the same registration in this process (results are deterministic)
        $a.Translation[0] | Should -BeGreaterThan 2.9
        $a.Translation[0] | Should -BeLessThan 3.1
        $a.Stages | Should -Be $here.Stages
        $a.Metric | Should -Be $here.Metric
        $a.Options.Stages | Should -Be 'Translation'
        $a.Subject | Should -Be '01'
        $a.MovingFile | Should -Be 'sub-01_T1w.nii.gz'
        $a.StaticFile | Should -Be 'tpl_T1w.nii.gz'
        $a.MovingPath | Should -Be $Sub01
        $a.Moving | Should -BeNullOrEmpty   # the moving image does not travel with the map: read MovingPath again
        $s = $Received[2]
        $s.Prealign.Equals($a.Affine) | Should -BeTrue
        $s.Options.LevelIterations | Should -Be @(4, 2)
        $s.IterationsPerLevel.Count | Should -Be 2
        [double]::IsNaN($s.FinalCorrelation) | Should -BeFalse
        $s.Subject | Should -Be '01'
    }

    It 'applies each returned map with Invoke-RegTransform exactly as the job did' -ForEach @(
        @{ Index = 1; Result = 4; What = 'affine' }
        @{ Index = 2; Result = 5; What = 'SyN' }
        @{ Index = 3; Result = 6; What = 'chain' }
    ) {
        $here = Invoke-RegTransform $Local $Received[$Index]
        [Linq.Enumerable]::SequenceEqual($here.ToArray(), $Received[$Result].ToArray()) | Should -BeTrue -Because $What
        # and the transform did something: the warped subject is closer to the template than the subject was
        $before = 0.0; $after = 0.0
        for ($i = 0; $i -lt $Template.VoxelCount; $i += 7) {   # every 7th voxel: enough, and quick in PowerShell
            $before += [math]::Abs($Local.Voxels[$i] - $Template.Voxels[$i]); $after += [math]::Abs($here.Voxels[$i] - $Template.Voxels[$i])
        }
        $after | Should -BeLessThan ($before / 3) -Because $What
    }

    It 'pipes a returned affine map into Register-SynImage as -Prealign (the moving image read again)' {
        $d = $Received[1] | Register-SynImage -Static $Template -Moving (Get-NiftiImage $Received[1].MovingPath) -LevelIterations 4, 2
        $d.Prealign.Equals($Received[1].Affine) | Should -BeTrue
        # the same registration as the job's: its warp moves the subject exactly as the returned one does
        [Linq.Enumerable]::SequenceEqual((Invoke-RegTransform $Local $d).ToArray(), $Received[5].ToArray()) | Should -BeTrue
    }

    It 'takes a property bag received before the module was imported (parameters typed object or map)' {
        # What Receive-Job gives in a session without RegPS: the bag with its type name and the hidden data.
        $bag = [pscustomobject] @{ RegPSData = $Received[1].RegPSData; Subject = '01' }
        $bag.pstypenames.Insert(0, 'Deserialized.RegPS.Engine.Registration.AffineMap')
        $viaBag = Invoke-RegTransform $Local $bag
        [Linq.Enumerable]::SequenceEqual($viaBag.ToArray(), $Received[4].ToArray()) | Should -BeTrue
        $imgBag = [pscustomobject] @{ RegPSData = $Received[0].RegPSData }
        $viaImageBag = Invoke-RegTransform $imgBag $Received[1]
        [Linq.Enumerable]::SequenceEqual($viaImageBag.ToArray(), $Received[4].ToArray()) | Should -BeTrue
        # and with the image from the pipeline, the map by position (bags either side)
        [Linq.Enumerable]::SequenceEqual(($imgBag | Invoke-RegTransform $Received[1]).ToArray(), $Received[4].ToArray()) | Should -BeTrue
        [Linq.Enumerable]::SequenceEqual(($Local | Invoke-RegTransform $bag).ToArray(), $Received[4].ToArray()) | Should -BeTrue
        [Linq.Enumerable]::SequenceEqual(($imgBag | Invoke-RegTransform $bag).ToArray(), $Received[4].ToArray()) | Should -BeTrue
        ([RegPS.Engine.Registration.AffineMap] $bag).Subject | Should -Be '01'
        { Invoke-RegTransform $Local ([pscustomobject] @{ RegPSData = [byte[]] (1, 2, 3) }) -ErrorAction Stop } | Should -Throw
    }

    It 'keeps the hidden RegPSData out of views, Select-Object * and ConvertTo-Json' {
        $Received[1] | Select-Object * | Get-Member -Name RegPSData | Should -BeNullOrEmpty
        ($Received[1] | ConvertTo-Json -WarningAction SilentlyContinue) | Should -Not -Match 'RegPSData'
        ($Received[0] | Format-List * | Out-String) | Should -Not -Match 'RegPSData'
    }
}

Describe 'Invoke-BidsRegistration results read after Start-Job' {
    BeforeAll {
        $script:Results = @($Received[7..9])
        $script:Ok = $Results | Where-Object Status -EQ 'Registered' | Sort-Object Subject
        $script:Bad = $Results | Where-Object Status -EQ 'Failed'
    }

    It 'gives subject, session, status and the output paths of each input' {
        $Results.Count | Should -Be 3
        $Results[0].pstypenames[0] | Should -Be 'Deserialized.RegPS.Engine.Pipelines.SubjectResult'
        $Ok.Subject | Should -Be @('01', '02')
        $Ok[1].Session | Should -Be '1'
        $Ok[0].Session | Should -BeNullOrEmpty
        foreach ($r in $Ok) {
            @($r.Outputs).Count | Should -Be 6
            foreach ($f in $r.Outputs) { $f | Should -Exist }
            $r.Outputs | Where-Object { $_ -like '*_desc-preproc_T1w.nii.gz' } | Should -Not -BeNullOrEmpty
            $r.Elapsed | Should -BeOfType ([TimeSpan])
            $r.Input | Should -Exist
        }
    }

    It 'gives the metrics, the same as the sidecar written to disk' {
        foreach ($r in $Ok) {
            $json = Get-Content ($r.Outputs | Where-Object { $_ -like '*.json' }) -Raw | ConvertFrom-Json
            $r.MutualInformation | Should -Be $json.AffineMutualInformation
            $r.Sidecar.AffineMutualInformation | Should -Be $json.AffineMutualInformation
            $r.FinalCorrelation | Should -Be $json.SynFinalCorrelation
            $r.FoldedVoxels | Should -Be $json.FoldedVoxels
            $r.Sidecar.Parameters.TemplateName | Should -Be 'Tiny'
            $r.Sidecar.Parameters.LevelIterations | Should -Be @(4, 2)
        }
    }

    It 'gives the failed input and its error message' {
        $Bad.Subject | Should -Be '03'
        @($Bad.Outputs).Count | Should -Be 0
        $Bad.ErrorMessage | Should -Match 'sub-03_T1w\.nii\.gz'
        $Bad.Error.Message | Should -Be $Bad.ErrorMessage
    }

    It 'shows the same table as a local result' {
        $text = $Results | Sort-Object Subject | Out-String
        $text | Should -Match 'Subject\s+Session\s+Status\s+Outputs\s+Elapsed\s+Message'
        $text | Should -Match '01\s+Registered\s+6 files'
        $text | Should -Match '03\s+Failed\s+0 files'
    }
}
