BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')

    # A small BIDS-like dataset in TestDrive: a coarse template (the sample T1 on a 5 mm grid, 51x51x37) and three
    # subjects made by moving the sample T1 by known small affines, one in a session folder, plus one corrupt file.
    $t1 = Get-NiftiImage (Join-Path $Samples 'KmeansTest_T1UCharRaw.nii.gz')
    $g = $t1.Grid
    $coarse = $g.GridToWorld * [RegPS.Engine.Images.Matrix4]::Scaling(5 / 2, 5 / 2, 5 / 3)
    $tg = [RegPS.Engine.Images.Grid]::new(51, 51, 37, $coarse, 3)
    $script:Template = $t1 | Convert-RegImage -Reference ([RegPS.Engine.Images.Image]::FromVoxels($tg, [float[]]::new($tg.VoxelCount)))
    $script:Centre = $g.ToWorld(63.5, 63.5, 30.5)   # a ValueTuple: Item1..Item3 are x, y, z (mm)

    function New-KnownAffine([double] $Degrees, [double] $X, [double] $Y, [double] $Z) {
        # A rotation about the z axis through the volume centre, then a translation (mm): static world -> moving world.
        $a = $Degrees * [math]::PI / 180
        $r = [RegPS.Engine.Images.Matrix4]::FromRows([double[][]] @(
                [double[]] @([math]::Cos($a), - [math]::Sin($a), 0, 0), [double[]] @([math]::Sin($a), [math]::Cos($a), 0, 0),
                [double[]] @(0, 0, 1, 0), [double[]] @(0, 0, 0, 1)))
        [RegPS.Engine.Images.Matrix4]::Translation($Centre.Item1 + $X, $Centre.Item2 + $Y, $Centre.Item3 + $Z) * $r *
        [RegPS.Engine.Images.Matrix4]::Translation(- $Centre.Item1, - $Centre.Item2, - $Centre.Item3)
    }

    $script:Bids = Join-Path $TestDrive 'bids'
    $script:Out = Join-Path $Bids 'derivatives/regps'
    $script:Known = @{
        'sub-01/anat/sub-01_T1w.nii.gz'                 = New-KnownAffine 4 3 -2 1
        'sub-02/ses-1/anat/sub-02_ses-1_T1w.nii.gz'     = New-KnownAffine -3 -2 2 0
        'sub-03/anat/sub-03_acq-fast_run-1_T1w.nii.gz'  = New-KnownAffine 2 1 1 -2
    }
    foreach ($rel in $Known.Keys) {
        $path = Join-Path $Bids $rel
        $null = New-Item -ItemType Directory -Force (Split-Path $path)
        $moved = [RegPS.Engine.Registration.AffineMap]::new($Known[$rel], $g, $g).Transform($t1)
        $null = $moved | Export-NiftiImage $path
    }
    # A truncated gzip: the header reads, the voxels do not.
    $script:Corrupt = Join-Path $Bids 'sub-04/anat/sub-04_T1w.nii.gz'
    $null = New-Item -ItemType Directory -Force (Split-Path $Corrupt)
    [IO.File]::WriteAllBytes($Corrupt, [IO.File]::ReadAllBytes((Join-Path $Bids 'sub-01/anat/sub-01_T1w.nii.gz'))[0..1999])

    function Get-Inputs { Get-ChildItem (Join-Path $Bids 'sub-*/anat/*_T1w.nii.gz'), (Join-Path $Bids 'sub-*/ses-*/anat/*_T1w.nii.gz') }
    $script:Run = @{ Template = $Template; TemplateName = 'Tiny'; LevelIterations = 10, 5 }
    function Get-Tree([string] $Root) {
        Get-ChildItem $Root -Recurse -File | ForEach-Object { [IO.Path]::GetRelativePath($Root, $_.FullName).Replace('\', '/') } | Sort-Object
    }
    function Get-Stamps([string] $Root) {
        $h = @{}
        Get-ChildItem $Root -Recurse -File | ForEach-Object { $h[$_.FullName] = $_.LastWriteTimeUtc }
        $h
    }

    $script:First = Get-Inputs | Invoke-BidsRegistration @Run -OutputRoot $Out -ErrorVariable firstErrors -ErrorAction SilentlyContinue
    $script:FirstErrors = $firstErrors
}

Describe 'Invoke-BidsRegistration' {
    It 'registers every good subject and fails the corrupt one alone, with one error' {
        @($First).Count | Should -Be 4
        @($First | Where-Object Status -EQ 'Registered').Count | Should -Be 3
        $failed = @($First | Where-Object Status -EQ 'Failed')
        $failed.Count | Should -Be 1
        $failed[0].Subject | Should -Be '04'
        $failed[0].Input | Should -Be $Corrupt
        $failed[0].Outputs | Should -BeNullOrEmpty
        @($FirstErrors).Count | Should -Be 1
        $FirstErrors[0].FullyQualifiedErrorId | Should -BeLike 'SubjectFailed,*'
        $FirstErrors[0].CategoryInfo.Category | Should -Be 'InvalidData'
        $FirstErrors[0].TargetObject | Should -Be $Corrupt
        Join-Path $Out 'sub-04' | Should -Not -Exist
        ($First | Where-Object Subject -EQ '02').Session | Should -Be '1'
        ($First | Where-Object Subject -EQ '01').ToString() | Should -Match '^sub-01: Registered in [0-9.]+ s, 6 files'
    }

    It 'names every output as a BIDS derivative, keeping the input entities' {
        $expected = @(
            'dataset_description.json'
            foreach ($s in 'sub-01/anat/sub-01', 'sub-02/ses-1/anat/sub-02_ses-1', 'sub-03/anat/sub-03_acq-fast_run-1') {
                "${s}_space-Tiny_desc-preproc_T1w.nii.gz"
                "${s}_space-Tiny_desc-preproc_T1w.json"
                "${s}_from-T1w_to-Tiny_mode-image_xfm.h5"
                "${s}_from-Tiny_to-T1w_mode-image_xfm.h5"
            }
            foreach ($s in 'sub-01/figures/sub-01', 'sub-02/figures/sub-02_ses-1', 'sub-03/figures/sub-03_acq-fast_run-1') {
                "${s}_space-Tiny_desc-overlay_T1w.png"
                "${s}_space-Tiny_desc-grid_T1w.png"
            }
        ) | Sort-Object
        Get-Tree $Out | Should -Be $expected
        $r = $First | Where-Object Subject -EQ '03'
        @($r.Outputs).Count | Should -Be 6
        $r.Outputs | ForEach-Object { $_ | Should -Exist }
    }

    It 'writes the sidecar: version, parameters, hashes, seed, metrics, iterations, time and files' {
        $input = Join-Path $Bids 'sub-02/ses-1/anat/sub-02_ses-1_T1w.nii.gz'
        $json = Get-Content (Join-Path $Out 'sub-02/ses-1/anat/sub-02_ses-1_space-Tiny_desc-preproc_T1w.json') -Raw | ConvertFrom-Json -DateKind String
        $json.RegPSVersion | Should -Be (Get-Module RegPS).Version.ToString(3)
        $json.Space | Should -Be 'Tiny'
        $json.PSObject.Properties.Name | Should -Not -Contain 'Input'
        $json.Sources | Should -Be 'bids:raw:sub-02/ses-1/anat/sub-02_ses-1_T1w.nii.gz', 'bids::sub-02/ses-1/anat/sub-02_ses-1_from-T1w_to-Tiny_mode-image_xfm.h5'
        $json.SpatialReference | Should -Be 'Tiny' 
        $json.InputSHA256 | Should -Be (Get-FileHash $input -Algorithm SHA256).Hash.ToLowerInvariant()
        $json.TemplateSHA256 | Should -Match '^[0-9a-f]{64}$'
        $json.ParametersSHA256 | Should -Match '^[0-9a-f]{64}$'
        $json.ParameterString | Should -Match 'mode=Syn;template=Tiny;'
        $json.ParameterString | Should -Match 'syn.levelIterations=10,5;'
        $json.Parameters.Mode | Should -Be 'Syn'
        $json.Parameters.LevelIterations | Should -Be 10, 5
        $json.Parameters.SynPreset | Should -Be 'Default'
        $json.Parameters.AffineLevelIterations | Should -Be 1000, 1000, 500, 250     # the Default preset's
        $json.Parameters.AffineSampling | Should -Be 'Random'
        $json.Parameters.AffineSampleCounts | Should -Be 20000, 20000, 20000, 150000
        $json.Parameters.AffineInterpolation | Should -Be 'CubicBSpline'
        $json.ParameterString | Should -Match 'affine.sampling=Random;'
        $json.Parameters.MaxDegreeOfParallelism | Should -Be ([math]::Max(1, [Environment]::ProcessorCount))
        $json.SamplingSeed | Should -Be 1234
        $json.AffineMutualInformation | Should -BeGreaterThan 0.3
        $json.SynFinalCorrelation | Should -BeGreaterThan 0.9
        $json.FoldedVoxels | Should -Be 0
        $json.SynIterationsPerLevel | Should -Be 10, 5
        # ShortEarlyStages (the Default preset, 4 levels): translation runs 2 levels, rigid 3, affine 4 = 9 entries
        @($json.AffineIterationsPerLevel).Count | Should -Be 9
        $json.ElapsedSeconds | Should -BeGreaterThan 0
        $json.StartTimeUtc | Should -Match '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$'
        $json.Outputs | Should -Contain 'sub-02/ses-1/anat/sub-02_ses-1_space-Tiny_desc-preproc_T1w.nii.gz'
        $json.Outputs | Should -Contain 'sub-02/figures/sub-02_ses-1_space-Tiny_desc-grid_T1w.png'
        $json.Outputs[-1] | Should -Be 'sub-02/ses-1/anat/sub-02_ses-1_space-Tiny_desc-preproc_T1w.json'
        # The same numbers as the result object carries.
        ($First | Where-Object Subject -EQ '02').Sidecar.ParametersSHA256 | Should -Be $json.ParametersSHA256
    }

    It 'writes dataset_description.json for BIDS derivatives' {
        $d = Get-Content (Join-Path $Out 'dataset_description.json') -Raw | ConvertFrom-Json
        $d.Name | Should -Be 'RegPS'
        $d.BIDSVersion | Should -Be '1.9.0'
        $d.DatasetType | Should -Be 'derivative'
        $d.GeneratedBy[0].Name | Should -Be 'RegPS'
        $d.GeneratedBy[0].Version | Should -Be (Get-Module RegPS).Version.ToString(3)
        # The raw dataset the bids:raw: URIs of the sidecars point into.
        $rawUri = [uri]::new((Resolve-Path $Bids).ProviderPath.TrimEnd('/') + '/').AbsoluteUri
        $rawUri | Should -BeLike 'file:///*'
        $d.SourceDatasets[0].URL | Should -Be $rawUri
        $d.DatasetLinks.raw | Should -Be $d.SourceDatasets[0].URL
    }

    It 'writes the image on the template grid as float32, and QC pictures' {
        $img = Get-NiftiImage (Join-Path $Out 'sub-01/anat/sub-01_space-Tiny_desc-preproc_T1w.nii.gz')
        $img.DataType | Should -Be 'float32'
        $img.Grid.SameAs($Template.Grid, 1e-4) | Should -BeTrue
        $overlay = Get-PhotoImage (Join-Path $Out 'sub-01/figures/sub-01_space-Tiny_desc-overlay_T1w.png')
        $grid = Get-PhotoImage (Join-Path $Out 'sub-01/figures/sub-01_space-Tiny_desc-grid_T1w.png')
        # Three panels side by side.
        $overlay.Grid.NX | Should -BeGreaterThan (2.5 * $overlay.Grid.NY)
        $grid.Grid.NX | Should -BeGreaterOrEqual 51
    }

    It 'recovers each known affine to within 1 mm mean displacement over the head, and the transform loads' {
        $threshold = 0.1 * $Template.Range().Max
        foreach ($rel in $Known.Keys) {
            $name = (Split-Path $rel -Leaf) -replace '_T1w\.nii\.gz$', '_from-T1w_to-Tiny_mode-image_xfm.h5'
            $chain = Import-RegTransform (Join-Path $Out (Split-Path $rel) | Join-Path -ChildPath $name)
            # fMRIPrep's composite: [affine, warp]
            $chain.Steps[1] | Should -BeOfType ([RegPS.Engine.Transforms.DisplacementFieldStep])
            $map = @{ Prealign = $chain.Steps[0].Matrix }
            # The map takes template world to subject world, so it should undo the affine that made the subject.
            $expected = $Known[$rel].Inverse()
            $sum = 0.0; $moved = 0.0; $n = 0
            for ($k = 1; $k -lt 37; $k += 3) { for ($j = 1; $j -lt 51; $j += 3) { for ($i = 1; $i -lt 51; $i += 3) {
                if ($Template[$i, $j, $k] -lt $threshold) { continue }
                $p = $Template.Grid.ToWorld($i, $j, $k)
                # Apply returns a ValueTuple: its X/Y/Z names do not exist at run time, only Item1..Item3.
                $a = $map.Prealign.Apply($p.Item1, $p.Item2, $p.Item3); $b = $expected.Apply($p.Item1, $p.Item2, $p.Item3)
                $dx = $a.Item1 - $b.Item1; $dy = $a.Item2 - $b.Item2; $dz = $a.Item3 - $b.Item3
                $sum += [math]::Sqrt($dx * $dx + $dy * $dy + $dz * $dz); $n++
                $ex = $p.Item1 - $b.Item1; $ey = $p.Item2 - $b.Item2; $ez = $p.Item3 - $b.Item3
                $moved += [math]::Sqrt($ex * $ex + $ey * $ey + $ez * $ez)
            } } }
            $n | Should -BeGreaterThan 500
            ($moved / $n) | Should -BeGreaterThan 2.5 -Because 'the subjects were moved by more than the tolerance'
            ($sum / $n) | Should -BeLessThan 1.0 -Because "$rel's affine should be recovered"
        }
    }

    It 'skips every up-to-date subject on a rerun without rewriting a file' {
        $before = Get-Stamps $Out
        $again = Get-Inputs | Invoke-BidsRegistration @Run -OutputRoot $Out -ErrorAction SilentlyContinue -ErrorVariable errs
        @($again | Where-Object Status -EQ 'Skipped').Subject | Sort-Object | Should -Be '01', '02', '03'
        # The corrupt subject was not completed, so it is tried (and fails) again.
        ($again | Where-Object Subject -EQ '04').Status | Should -Be 'Failed'
        @($errs).Count | Should -Be 1
        $after = Get-Stamps $Out
        $after.Count | Should -Be $before.Count
        foreach ($f in $before.Keys) { $after[$f] | Should -Be $before[$f] -Because "$f must not be rewritten" }
    }

    It 'redoes a subject with -Force, with the same result' {
        $image = Join-Path $Out 'sub-01/anat/sub-01_space-Tiny_desc-preproc_T1w.nii.gz'
        $sidecar = Join-Path $Out 'sub-01/anat/sub-01_space-Tiny_desc-preproc_T1w.json'
        $bytes = [IO.File]::ReadAllBytes($image)
        $before = (Get-Item $sidecar).LastWriteTimeUtc
        $r = Get-Item (Join-Path $Bids 'sub-01/anat/sub-01_T1w.nii.gz') | Invoke-BidsRegistration @Run -OutputRoot $Out -Force
        $r.Status | Should -Be 'Registered'
        (Get-Item $sidecar).LastWriteTimeUtc | Should -BeGreaterThan $before
        [Linq.Enumerable]::SequenceEqual([IO.File]::ReadAllBytes($image), $bytes) | Should -BeTrue
    }

    It 'redoes a subject whose parameters changed' {
        $r = Get-Item (Join-Path $Bids 'sub-03/anat/sub-03_acq-fast_run-1_T1w.nii.gz') |
            Invoke-BidsRegistration -Template $Template -TemplateName Tiny -LevelIterations 10, 4 -OutputRoot $Out
        $r.Status | Should -Be 'Registered'
        (Get-Content (Join-Path $Out 'sub-03/anat/sub-03_acq-fast_run-1_space-Tiny_desc-preproc_T1w.json') -Raw | ConvertFrom-Json).SynIterationsPerLevel | Should -Be 10, 4
    }

    It 'writes nothing with -WhatIf' {
        $before = Get-Stamps $Out
        $r = Get-Inputs | Invoke-BidsRegistration @Run -OutputRoot $Out -Force -WhatIf
        $r | Should -BeNullOrEmpty
        $fresh = Join-Path $TestDrive 'whatif'
        Get-Inputs | Invoke-BidsRegistration @Run -OutputRoot $fresh -WhatIf | Should -BeNullOrEmpty
        $fresh | Should -Not -Exist
        $after = Get-Stamps $Out
        foreach ($f in $before.Keys) { $after[$f] | Should -Be $before[$f] }
    }

    It 'gives byte-identical NIfTI and transform outputs with -ThrottleLimit 2' {
        $serial = Join-Path $TestDrive 'serial'
        $parallel = Join-Path $TestDrive 'parallel'
        $good = Get-Inputs | Where-Object FullName -NE $Corrupt
        $s = $good | Invoke-BidsRegistration @Run -OutputRoot $serial
        $p = $good | Invoke-BidsRegistration @Run -OutputRoot $parallel -ThrottleLimit 2
        @($p | Where-Object Status -EQ 'Registered').Count | Should -Be 3
        ($p.Subject | Sort-Object) | Should -Be ($s.Subject | Sort-Object)
        # Each of the 2 subjects at a time gets its share of the cores.
        $json = Get-Content (Join-Path $parallel 'sub-01/anat/sub-01_space-Tiny_desc-preproc_T1w.json') -Raw | ConvertFrom-Json
        $json.Parameters.MaxDegreeOfParallelism | Should -Be ([math]::Max(1, [math]::Floor([Environment]::ProcessorCount / 2)))
        $files = Get-Tree $serial | Where-Object { $_ -like '*.nii.gz' -or $_ -like '*.h5' }
        @($files).Count | Should -Be 9
        Get-Tree $parallel | Should -Be (Get-Tree $serial)
        foreach ($f in $files) {
            [Linq.Enumerable]::SequenceEqual([IO.File]::ReadAllBytes((Join-Path $serial $f)), [IO.File]::ReadAllBytes((Join-Path $parallel $f))) |
                Should -BeTrue -Because "$f must not depend on how many subjects ran at once"
        }
    }

    It 'runs the affine chain alone with -Mode Affine, and writes the ANTs parts when asked' {
        $root = Join-Path $TestDrive 'affine'
        $r = Get-Item (Join-Path $Bids 'sub-01/anat/sub-01_T1w.nii.gz') |
            Invoke-BidsRegistration -Template $Template -TemplateName Tiny -OutputRoot $root -Mode Affine -AffineLevelIterations 100, 50 -AntsParts
        $r.Status | Should -Be 'Registered'
        Get-Tree $root | Should -Be (@(
                'dataset_description.json'
                'sub-01/anat/sub-01_from-T1w_to-Tiny_mode-image_xfm.h5'
                'sub-01/anat/sub-01_from-Tiny_to-T1w_mode-image_xfm.h5'
                'sub-01/anat/sub-01_from-T1w_to-Tiny_mode-image_xfm.json'
                'sub-01/anat/sub-01_from-T1w_to-Tiny_mode-image_xfm_affine.mat'
                'sub-01/anat/sub-01_space-Tiny_desc-preproc_T1w.json'
                'sub-01/anat/sub-01_space-Tiny_desc-preproc_T1w.nii.gz'
                'sub-01/figures/sub-01_space-Tiny_desc-overlay_T1w.png'
            ) | Sort-Object)
        $manifest = Import-RegTransform (Join-Path $root 'sub-01/anat/sub-01_from-T1w_to-Tiny_mode-image_xfm.json')
        $manifest | Should -BeOfType ([RegPS.Engine.Registration.AffineMap])
        $forward = Import-RegTransform (Join-Path $root 'sub-01/anat/sub-01_from-T1w_to-Tiny_mode-image_xfm.h5')
        $inverse = Import-RegTransform (Join-Path $root 'sub-01/anat/sub-01_from-Tiny_to-T1w_mode-image_xfm.h5')
        $forward.Steps[0].Matrix.MaxAbsDifference($manifest.Affine) | Should -BeLessThan 1e-9
        ($inverse.Steps[0].Matrix * $manifest.Affine).MaxAbsDifference([RegPS.Engine.Images.Matrix4]::Identity) | Should -BeLessThan 1e-9
        $json = Get-Content (Join-Path $root 'sub-01/anat/sub-01_space-Tiny_desc-preproc_T1w.json') -Raw | ConvertFrom-Json
        $json.Parameters.AffineLevelIterations | Should -Be 100, 50
        $json.Parameters.AffineFactors | Should -Be 2, 1
        $json.SynFinalCorrelation | Should -BeNullOrEmpty
    }

    It 'stops every running subject on Ctrl+C and leaves nothing half-written' {
        $root = Join-Path $TestDrive 'stopped'
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript({
                    param($ModulePath, $Files, $Template, $Root)
                    Import-Module $ModulePath
                    $Files | Invoke-BidsRegistration -Template $Template -TemplateName Tiny -OutputRoot $Root -LevelIterations 200, 200 -ThrottleLimit 2
                }).AddParameters(@{
                    ModulePath = (Join-Path $ModuleDir 'RegPS.psd1'); Template = $Template; Root = $root
                    Files      = @(Get-Inputs | Where-Object FullName -NE $Corrupt | ForEach-Object FullName)
                })
            $async = $ps.BeginInvoke()
            $deadline = [DateTime]::UtcNow.AddSeconds(20)
            while (-not ($ps.Streams.Progress | Where-Object StatusDescription -Like 'affine*') -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 20 }
            @($ps.Streams.Progress | Where-Object StatusDescription -Like 'affine*').Count | Should -BeGreaterThan 0
            # The dataset bar counts what has been received; the subjects' bars are its children.
            $ps.Streams.Progress | Where-Object ActivityId -EQ 1 | Select-Object -First 1 -ExpandProperty StatusDescription | Should -Match 'subjects received done'
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $ps.Stop()
            # a bound against a hang, generous for a loaded machine (speed is the benchmarks' business)
            $clock.Elapsed.TotalSeconds | Should -BeLessThan 15
            $async.IsCompleted | Should -BeTrue
            $ps.InvocationStateInfo.State | Should -Be 'Stopped'
        } finally { $ps.Dispose() }
        # Only the dataset description: the two subjects that were running removed what they had written.
        Get-ChildItem $root -Recurse -File -Force | ForEach-Object Name | Should -Be 'dataset_description.json'
    }

    It 'refuses a file whose name is not BIDS, without stopping the others' {
        $bad = Join-Path $TestDrive 'scan_01.nii.gz'
        Copy-Item (Join-Path $Bids 'sub-01/anat/sub-01_T1w.nii.gz') $bad
        $r = $bad, (Join-Path $Bids 'sub-01/anat/sub-01_T1w.nii.gz') |
            Invoke-BidsRegistration @Run -OutputRoot $Out -ErrorVariable errs -ErrorAction SilentlyContinue
        @($errs).Count | Should -Be 1
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'InvalidBidsName,*'
        $errs[0].Exception.Message | Should -Match "'scan' is not a key-value entity"
        $r[0].Status | Should -Be 'Failed'
        $r[1].Status | Should -Be 'Skipped'
    }
}
