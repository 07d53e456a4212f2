BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')

    # A small 4D series from the bundled T1: smoothed, sampled (cubic B-spline) on 32x32x20 voxels of 6 mm, the head shifted along x by a
    # known amount per volume (volume 3, the middle one, not at all), so the motion relative to the middle volume is
    # exactly these shifts. volume(y) = T1(y - s e_x).
    $script:Shifts = @(1.0, -0.6, 0.5, 0.0, 1.5, -1.2)
    $t1 = Get-NiftiImage -LiteralPath (Join-Path $Samples 'KmeansTest_T1UCharRaw.nii.gz')
    $smooth = [RegPS.Engine.Filters.Gaussian]::Smooth($t1, [double[]] @(1.5, 1.5, 1.0), 1)
    $c = $t1.Grid.ToWorld(63.5, 63.5, 30.5)
    $g2w = [RegPS.Engine.Images.Matrix4]::new([double[]] @(6, 0, 0, ($c.Item1 - 6 * 15.5), 0, 6, 0, ($c.Item2 - 6 * 15.5), 0, 0, 6, ($c.Item3 - 6 * 9.5), 0, 0, 0, 1))
    $script:Grid = [RegPS.Engine.Images.Grid]::new(32, 32, 20, $g2w, 3)
    $n = $Grid.VoxelCount
    $data = [float[]]::new($n * $Shifts.Count)
    for ($t = 0; $t -lt $Shifts.Count; $t++) {
        $m = [RegPS.Engine.Images.Matrix4]::Translation(-$Shifts[$t], 0, 0)
        $vol = [RegPS.Engine.Resampling.Resampler]::Resample($smooth, $Grid, $m, 'BSpline', 'Constant', 1)
        [Array]::Copy($vol.ToArray(), 0, $data, $t * $n, $n)
    }
    $script:Series = [RegPS.Engine.Images.Image]::new($Grid, $data, $Shifts.Count, $null, $null, 'float32', $null)
    $script:BoldPath = Join-Path $TestDrive 'sub-01_task-rest_bold.nii.gz'
    $Series | Export-NiftiImage -LiteralPath $BoldPath | Out-Null
    $script:Result = Register-ImageSeries -LiteralPath $BoldPath -MaxDegreeOfParallelism 2
}

Describe 'Register-ImageSeries' {
    It 'recovers the known shifts of a file given by -LiteralPath' {
        $Result | Should -BeOfType ([RegPS.Engine.Registration.MotionCorrectionResult])
        $Result.Volumes | Should -Be 6
        $Result.FileName | Should -Be 'sub-01_task-rest_bold.nii.gz'
        for ($t = 0; $t -lt 6; $t++) {
            $p = $Result.Parameters[$t]
            [math]::Abs($p.TransX - $Shifts[$t]) | Should -BeLessThan 0.15 -Because "volume $t moved $($Shifts[$t]) mm along x"
            [math]::Abs($p.TransY) | Should -BeLessThan 0.15
            [math]::Abs($p.RotZ) | Should -BeLessThan (0.2 * [math]::PI / 180)
        }
        $Result.Corrected.Volumes | Should -Be 6
        $Result.Corrected.Grid.SameAs($Grid, 1e-4) | Should -BeTrue
        [double]::IsNaN($Result.Parameters[0].FramewiseDisplacement) | Should -BeTrue
        [math]::Abs($Result.Parameters[4].FramewiseDisplacement - 1.5) | Should -BeLessThan 0.2
        $Result.VolumesAbove05mm | Should -Be 5
    }

    It 'takes images from the pipeline and files from Get-ChildItem' {
        $a = @($Series, $Series) | Register-ImageSeries -Passes 1 -Transform Translation -MaxDegreeOfParallelism 1
        $a.Count | Should -Be 2
        $a[0].Passes | Should -Be 1
        $a[0].Transform | Should -Be 'Translation'
        $b = @(Get-ChildItem -Path $TestDrive -Filter '*_bold.nii.gz' | Register-ImageSeries -Passes 1 -Reference First)
        $b.Count | Should -Be 1
        $b[0].ReferenceDescription | Should -Be 'first volume 0'
        [math]::Abs($b[0].Parameters[4].TransX - ($Shifts[4] - $Shifts[0])) | Should -BeLessThan 0.15
    }

    It 'shows volumes, mean and max FD and the count above 0.5 mm in its default view' {
        $text = $Result | Format-Table | Out-String
        $text | Should -Match 'Volumes'
        $text | Should -Match 'MeanFD'
        $text | Should -Match 'MaxFD'
        $text | Should -Match 'FD>0.5mm'
        $text | Should -Match 'sub-01_task-rest_bold.nii.gz'
    }

    It 'reports a missing file and a bad -Reference with their names' {
        Register-ImageSeries -Path (Join-Path $TestDrive 'nope_bold.nii.gz') -ErrorVariable errs -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'FileNotFound*'
        { Register-ImageSeries -Image $Series -Reference 'Sideways' -ErrorAction Stop } | Should -Throw '*Middle, Mean, First*'
        Register-ImageSeries -Image $Series -Reference 9 -ErrorVariable errs2 -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $errs2[0].Exception.Message | Should -BeLike '*volumes 0 to 5*'
    }

    It 'applies each volume''s motion to another series of the same run (Invoke-RegTransform)' {
        # A second series of the same run (as a second echo would be): the same volumes, twice as bright.
        $src = $Series.ToArray()
        $twice = [float[]]::new($src.Length)
        for ($i = 0; $i -lt $src.Length; $i++) { $twice[$i] = 2 * $src[$i] }
        $echo2 = [RegPS.Engine.Images.Image]::new($Grid, $twice, 6, $null, $null, 'float32', $null)
        $out = $echo2 | Invoke-RegTransform -Transform $Result
        $out.Volumes | Should -Be 6
        $out.Grid.SameAs($Grid, 1e-6) | Should -BeTrue
        $one = $echo2.Volume(4) | Invoke-RegTransform -Transform $Result.Maps[4]
        # Away from the faces (where the two resamplers treat the border differently), twice the corrected series.
        $got = $out.ToArray(); $want = $Result.Corrected.ToArray(); $single = $one.ToArray()
        $n = $Grid.VoxelCount; $worst = 0.0; $worstOne = 0.0
        $peak = ($want | Measure-Object -Maximum).Maximum
        for ($t = 0; $t -lt 6; $t++) {
            for ($k = 2; $k -lt 18; $k++) { for ($j = 2; $j -lt 30; $j++) { for ($i = 2; $i -lt 30; $i++) {
                $q = ($k * 32 + $j) * 32 + $i
                $worst = [math]::Max($worst, [math]::Abs($got[$t * $n + $q] - 2 * $want[$t * $n + $q]))
                if ($t -eq 4) { $worstOne = [math]::Max($worstOne, [math]::Abs($single[$q] - 2 * $want[4 * $n + $q])) }
            } } }
        }
        $worst | Should -BeLessThan (1e-4 * $peak)
        $worstOne | Should -BeLessThan (1e-4 * $peak)
        # Volume 1 (moved -0.6 mm) really moved back: not the uncorrected input.
        $moved = 0.0
        for ($q = 0; $q -lt $n; $q++) { $moved = [math]::Max($moved, [math]::Abs($got[$n + $q] - $twice[$n + $q])) }
        $moved | Should -BeGreaterThan (0.01 * $peak)
        $echo2.Volume(0) | Invoke-RegTransform -Transform $Result -ErrorVariable errs -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $errs[0].Exception.Message | Should -BeLike '*1 volume(s)*has 6*same run*'
    }
}

Describe 'Register-AffineImage and Register-SynImage with a 4D image' {
    It 'tells the user to pick a volume or use Register-ImageSeries' {
        $static = Get-NiftiImage -LiteralPath $BoldPath -Volume 3
        $moving = Get-NiftiImage -LiteralPath $BoldPath
        Register-AffineImage -Static $static -Moving $moving -ErrorVariable errs -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $errs.Count | Should -Be 1
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'MovingImageIs4D*'
        $errs[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        $errs[0].Exception.Message | Should -BeLike "*$BoldPath*"
        $errs[0].Exception.Message | Should -BeLike '*-Volume*'
        $errs[0].Exception.Message | Should -BeLike '*Register-ImageSeries*'
        Register-SynImage -Static $static -Moving $moving -ErrorVariable errs3 -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $errs3[0].FullyQualifiedErrorId | Should -BeLike 'MovingImageIs4D*'
    }
}

Describe 'Export-MotionParameters' {
    It 'writes nothing with -WhatIf' {
        $tsv = Join-Path $TestDrive 'whatif_desc-confounds_timeseries.tsv'
        $Result | Export-MotionParameters -Path $tsv -WhatIf
        Test-Path $tsv | Should -BeFalse
        Test-Path ($tsv -replace '\.tsv$', '.json') | Should -BeFalse
    }

    It 'writes the BIDS TSV and its sidecar, and refuses to overwrite without -Force' {
        $tsv = Join-Path $TestDrive 'sub-01_task-rest_desc-confounds_timeseries.tsv'
        $files = @($Result | Export-MotionParameters -Path $tsv)
        $files.Count | Should -Be 2
        $files[0].Name | Should -Be 'sub-01_task-rest_desc-confounds_timeseries.tsv'
        $files[1].Name | Should -Be 'sub-01_task-rest_desc-confounds_timeseries.json'
        $rows = Import-Csv -LiteralPath $tsv -Delimiter "`t"
        $rows.Count | Should -Be 6
        ($rows[0].PSObject.Properties.Name -join ' ') | Should -Be 'trans_x trans_y trans_z rot_x rot_y rot_z framewise_displacement'
        $rows[0].framewise_displacement | Should -Be 'n/a'
        [math]::Abs([double]::Parse($rows[4].trans_x, [cultureinfo]::InvariantCulture) - 1.5) | Should -BeLessThan 0.15
        (Get-Content -Raw ($tsv -replace '\.tsv$', '.json') | ConvertFrom-Json).rot_x.Units | Should -Be 'rad'
        $Result | Export-MotionParameters -Path $tsv -ErrorVariable errs -ErrorAction SilentlyContinue
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'FileExists*'
        @($Result | Export-MotionParameters -Path $tsv -Force).Count | Should -Be 2
    }

    It 'writes FSL .par (rotations first) and SPM rp_ (translations first)' {
        $par = $Result | Export-MotionParameters -Path (Join-Path $TestDrive 'bold_mcf.par')
        $rp = $Result | Export-MotionParameters -Path (Join-Path $TestDrive 'rp_bold.txt')
        $parRow = (Get-Content $par.FullName)[4] -split '\s+' | Where-Object { $_ } | ForEach-Object { [double]::Parse($_, [cultureinfo]::InvariantCulture) }
        $rpRow = (Get-Content $rp.FullName)[4] -split '\s+' | Where-Object { $_ } | ForEach-Object { [double]::Parse($_, [cultureinfo]::InvariantCulture) }
        $parRow.Count | Should -Be 6
        $rpRow.Count | Should -Be 6
        [math]::Abs($parRow[3] - 1.5) | Should -BeLessThan 0.15   # trans_x is the 4th column of .par
        [math]::Abs($rpRow[0] - 1.5) | Should -BeLessThan 0.15    # and the 1st of rp_
        $parRow[0] | Should -Be $rpRow[3]                           # rot_x
    }

    It 'asks for -Format when the extension says nothing' {
        $Result | Export-MotionParameters -Path (Join-Path $TestDrive 'motion.csv') -ErrorVariable errs -ErrorAction SilentlyContinue
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'UnknownMotionFormat*'
        $f = $Result | Export-MotionParameters -Path (Join-Path $TestDrive 'motion.csv') -Format Fsl
        (Get-Content $f.FullName).Count | Should -Be 6
    }
}

Describe 'Export-MotionPlot' {
    It 'writes a PNG of the requested size, and nothing with -WhatIf' {
        $png = Join-Path $TestDrive 'motion.png'
        $Result | Export-MotionPlot -Path $png -WhatIf
        Test-Path $png | Should -BeFalse
        $f = $Result | Export-MotionPlot -Path $png -Width 640 -Height 400
        $f.Name | Should -Be 'motion.png'
        $img = Get-PhotoImage -LiteralPath $png
        $img.Grid.NX | Should -Be 640
        $img.Grid.NY | Should -Be 400
    }
}

Describe 'Invoke-BidsRegistration with a BOLD run' {
    BeforeAll {
        # A BIDS tree with one BOLD run: the series above (known shifts along x, TR from its header) as sub-01's rest run.
        $script:BidsRoot = Join-Path $TestDrive 'bids'
        $func = New-Item -ItemType Directory -Path (Join-Path $BidsRoot 'sub-01/func') -Force
        Copy-Item -LiteralPath $BoldPath -Destination (Join-Path $func 'sub-01_task-rest_bold.nii.gz')
        $script:Deriv = Join-Path $TestDrive 'derivatives'
        $script:Tpl = Get-NiftiImage -LiteralPath $BoldPath -Volume 3   # -Template is required; BOLD runs stay in their own space
        $script:BidsRun = @{ Template = $Tpl; TemplateName = 'Tiny'; OutputRoot = $Deriv; MaxDegreeOfParallelism = 2 }
        $script:First = @(Get-ChildItem -Path (Join-Path $BidsRoot 'sub-*/func/*_bold.nii.gz') | Invoke-BidsRegistration @BidsRun)
        $script:OutFunc = Join-Path $Deriv 'sub-01/func'
    }

    It 'writes the corrected series, the confounds with their sidecar, the motion plot and the sidecar' {
        $First.Count | Should -Be 1
        $First[0].Status | Should -Be 'Registered'
        $names = @(Get-ChildItem -LiteralPath $OutFunc -Name | Sort-Object)
        $names | Should -Be @('sub-01_task-rest_desc-confounds_timeseries.json', 'sub-01_task-rest_desc-confounds_timeseries.tsv',
            'sub-01_task-rest_desc-preproc_bold.json', 'sub-01_task-rest_desc-preproc_bold.nii.gz')
        Test-Path (Join-Path $Deriv 'sub-01/figures/sub-01_task-rest_desc-motion_bold.png') | Should -BeTrue
        Test-Path (Join-Path $Deriv 'dataset_description.json') | Should -BeTrue
        @(Get-ChildItem -LiteralPath $Deriv -Recurse -Filter '*.tmp*').Count | Should -Be 0
        $side = Get-Content -Raw (Join-Path $OutFunc 'sub-01_task-rest_desc-preproc_bold.json') | ConvertFrom-Json
        $side.Space | Should -Be 'bold'
        $side.Volumes | Should -Be 6
        $side.Sources[0] | Should -Be 'bids:raw:sub-01/func/sub-01_task-rest_bold.nii.gz'
        $side.InputSHA256 | Should -Be (Get-FileHash -Algorithm SHA256 -LiteralPath $BoldPath).Hash.ToLowerInvariant()
        $side.Outputs | Should -Contain 'sub-01/figures/sub-01_task-rest_desc-motion_bold.png'
    }

    It 'recovers the known motion and removes it from the series' {
        $rows = Import-Csv -LiteralPath (Join-Path $OutFunc 'sub-01_task-rest_desc-confounds_timeseries.tsv') -Delimiter "`t"
        $rows.Count | Should -Be 6
        for ($t = 0; $t -lt 6; $t++) {
            [math]::Abs([double]::Parse($rows[$t].trans_x, [cultureinfo]::InvariantCulture) - $Shifts[$t]) | Should -BeLessThan 0.15 -Because "volume $t moved $($Shifts[$t]) mm along x"
            [math]::Abs([double]::Parse($rows[$t].trans_y, [cultureinfo]::InvariantCulture)) | Should -BeLessThan 0.15
        }
        $corrected = Get-NiftiImage -LiteralPath (Join-Path $OutFunc 'sub-01_task-rest_desc-preproc_bold.nii.gz')
        $corrected.Volumes | Should -Be 6
        $corrected.Grid.SameAs($Grid, 1e-4) | Should -BeTrue
        # Volume 4 moved 1.5 mm from the reference (volume 3). Inside the head, the corrected volume 4 differs from the
        # corrected volume 3 about as little as volume 4 moved back by the true shift (trilinear, as the correction
        # resamples) does: what is left is interpolation, not motion.
        $n = $Grid.VoxelCount
        $raw = $Series.ToArray(); $fixed = $corrected.ToArray()
        $ideal = [RegPS.Engine.Resampling.Resampler]::Resample($Series.Volume(4), $Grid, [RegPS.Engine.Images.Matrix4]::Translation($Shifts[4], 0, 0), 'Linear', 'ZeroPadded', 1).ToArray()
        $before = 0.0; $after = 0.0; $floor = 0.0
        for ($z = 4; $z -lt 16; $z++) { for ($y = 4; $y -lt 28; $y++) { for ($x = 4; $x -lt 28; $x++) {
            $i = $Grid.Index($x, $y, $z)
            $before += [math]::Abs($raw[4 * $n + $i] - $raw[3 * $n + $i])
            $after += [math]::Abs($fixed[4 * $n + $i] - $fixed[3 * $n + $i])
            $floor += [math]::Abs($ideal[$i] - $raw[3 * $n + $i])
        } } }
        $floor | Should -BeLessThan (0.8 * $before)
        $after | Should -BeLessThan (1.15 * $floor)
    }

    It 'skips the run when nothing changed and redoes it when an output is missing' {
        $again = @(Get-ChildItem -Path (Join-Path $BidsRoot 'sub-*/func/*_bold.nii.gz') | Invoke-BidsRegistration @BidsRun)
        $again[0].Status | Should -Be 'Skipped'
        Remove-Item -LiteralPath (Join-Path $Deriv 'sub-01/figures/sub-01_task-rest_desc-motion_bold.png')
        $redo = @(Get-ChildItem -Path (Join-Path $BidsRoot 'sub-*/func/*_bold.nii.gz') | Invoke-BidsRegistration @BidsRun -Verbose 4>&1)
        ($redo | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -and $_.Message -like '*desc-motion_bold.png is missing*' }) | Should -Not -BeNullOrEmpty
        ($redo | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] })[0].Status | Should -Be 'Registered'
        Test-Path (Join-Path $Deriv 'sub-01/figures/sub-01_task-rest_desc-motion_bold.png') | Should -BeTrue
    }
}
