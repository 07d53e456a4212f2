# A BIDS batch beyond one process, on real daemons started and stopped here: a one-node SLURM cluster (Debian slurm-wlm
# and munge: munged, slurmctld -D, slurmd -D, with tests/cluster/slurm.conf) runs the README's job array, and
# PowerShell remoting over SSH (Debian openssh-server: sshd -D on 127.0.0.1 with tests/cluster/sshd_config and a key
# made here) runs the README's fan-out to two sessions. Both are checked against a serial run of the same dataset.
# Without the packages (or not as root) the tests skip and say why; with CI=true they fail instead.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')

    $script:Missing = @(
        foreach ($c in 'munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scancel') { if (-not (Get-Command $c -ErrorAction SilentlyContinue)) { "$c (apt-get install slurm-wlm munge)" } }
    )
    $script:SshMissing = @(
        if (-not (Test-Path /usr/sbin/sshd)) { '/usr/sbin/sshd (apt-get install openssh-server)' }
        foreach ($c in 'ssh', 'ssh-keygen') { if (-not (Get-Command $c -ErrorAction SilentlyContinue)) { "$c (apt-get install openssh-client)" } }
    )
    if (-not $IsLinux) { $script:Missing += 'Linux'; $script:SshMissing += 'Linux' }
    elseif ((& id -u) -ne '0') { $script:Missing += 'root (slurmd runs the jobs)'; $script:SshMissing += 'root (sshd)' }
    $script:Readme = Get-Content (Join-Path $PSScriptRoot '../README.md') -Raw

    function Get-ReadmeBlock([string] $Contains) {
        # The README's PowerShell code block holding $Contains, exactly as written.
        $blocks = [regex]::Matches($Readme, '(?s)```powershell\r?\n(.*?)\r?\n```') | ForEach-Object { $_.Groups[1].Value }
        $b = @($blocks | Where-Object { $_.Contains($Contains) })
        if ($b.Count -ne 1) { throw "README: expected one powershell block with '$Contains', found $($b.Count)." }
        $b[0]
    }

    function Skip-Or-Fail([string[]] $Missing) {
        if ($Missing.Count -eq 0) { return $false }
        $why = "needs $($Missing -join ', ')"
        if ($env:CI -eq 'true') { throw "$why, and CI=true: .ci/run installs them." }
        Set-ItResult -Skipped -Because "$why; CI=true makes this a failure instead"
        return $true
    }

    function Get-FreePort {
        $l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0)
        $l.Start(); $p = $l.LocalEndpoint.Port; $l.Stop(); $p
    }

    function Start-Daemon([string] $Name, [string] $File, [string[]] $Arguments) {
        # A daemon in the foreground as a child process this test owns (no systemd here); its output goes to a log.
        $log = Join-Path $Work "$Name.out"
        $p = Start-Process -FilePath $File -ArgumentList $Arguments -RedirectStandardOutput $log -RedirectStandardError "$log.err" -PassThru
        $script:Daemons.Add([pscustomobject]@{ Name = $Name; Process = $p; Log = $log })
        $p
    }

    function Wait-Until([scriptblock] $Condition, [double] $Seconds, [string] $What) {
        $deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
        while (-not (& $Condition)) {
            if ([DateTime]::UtcNow -gt $deadline) { throw "Timed out after $Seconds s waiting for $What.`n$(Get-DaemonLogs)" }
            Start-Sleep -Milliseconds 200
        }
    }

    function Get-DaemonLogs {
        foreach ($d in $script:Daemons) {
            foreach ($f in $d.Log, "$($d.Log).err") { if (Test-Path $f) { "--- $f"; Get-Content $f -Tail 15 } }
        }
        foreach ($f in Get-ChildItem (Join-Path $Work '*.log') -ErrorAction SilentlyContinue) { "--- $f"; Get-Content $f -Tail 15 }
    }

    function Get-Tree([string] $Root) {
        # Every file under $Root except the job's code/ and logs/ folders, relative, sorted.
        Get-ChildItem $Root -Recurse -File -Force | ForEach-Object { [IO.Path]::GetRelativePath($Root, $_.FullName).Replace('\', '/') } |
            Where-Object { $_ -notmatch '^(code|logs)/' } | Sort-Object
    }

    function Assert-SameAsSerial([string] $Root, [switch] $OtherRawRoot) {
        # Byte for byte, except in the sidecars the run's own timing (ElapsedSeconds, StartTimeUtc) and the thread
        # count it records; dataset_description.json names the raw dataset's folder, which differs for a copy of the
        # dataset (the runs here each have their own copy): there, only that URL may differ.
        $tree = Get-Tree $Root
        $tree | Should -Be (Get-Tree $Serial)
        foreach ($f in $tree) {
            $a = Join-Path $Serial $f; $b = Join-Path $Root $f
            if ($f -like 'sub-*_desc-preproc_T1w.json' -or $f -like '*/*_desc-preproc_T1w.json') {
                $ja = Get-Content $a -Raw | ConvertFrom-Json -AsHashtable; $jb = Get-Content $b -Raw | ConvertFrom-Json -AsHashtable
                foreach ($j in $ja, $jb) { $j.Remove('ElapsedSeconds'); $j.Remove('StartTimeUtc'); $j.Parameters.Remove('MaxDegreeOfParallelism') }
                ($jb | ConvertTo-Json -Depth 5) | Should -Be ($ja | ConvertTo-Json -Depth 5) -Because "$f differs beyond timing"
            }
            elseif ($f -eq 'dataset_description.json' -and $OtherRawRoot) {
                $ja = Get-Content $a -Raw | ConvertFrom-Json -AsHashtable; $jb = Get-Content $b -Raw | ConvertFrom-Json -AsHashtable
                $jb.DatasetLinks.raw | Should -Be ([uri]::new((Split-Path (Split-Path $Root)) + '/').AbsoluteUri)
                foreach ($j in $ja, $jb) { $j.DatasetLinks.Remove('raw'); $j.Remove('SourceDatasets') }
                ($jb | ConvertTo-Json -Depth 5) | Should -Be ($ja | ConvertTo-Json -Depth 5)
            }
            else {
                [Linq.Enumerable]::SequenceEqual([IO.File]::ReadAllBytes($a), [IO.File]::ReadAllBytes($b)) | Should -BeTrue -Because "$f must equal the serial run's"
            }
        }
    }

    $script:Daemons = [Collections.Generic.List[object]]::new()
    $script:Work = Join-Path ([IO.Path]::GetTempPath()) "regps-cluster-$PID"
    $null = New-Item -ItemType Directory -Force $Work
    & chmod 755 $Work

    # The dataset: a coarse template (the sample T1 on a 6 mm grid, 43x43x31) in a TemplateFlow cache, and four
    # subjects on a 4 mm grid: the sample T1 moved by known small affines, and a truncated file.
    $t1 = Get-NiftiImage (Join-Path $Samples 'KmeansTest_T1UCharRaw.nii.gz')
    $g = $t1.Grid
    function New-Coarse([double] $mm, [int] $nx, [int] $ny, [int] $nz) {
        $m = $g.GridToWorld * [RegPS.Engine.Images.Matrix4]::Scaling($mm / 2, $mm / 2, $mm / 3)
        $cg = [RegPS.Engine.Images.Grid]::new($nx, $ny, $nz, $m, 3)
        [RegPS.Engine.Images.Image]::FromVoxels($cg, [float[]]::new($cg.VoxelCount))
    }
    $script:TemplateFlow = Join-Path $Work 'templateflow'
    $tplFile = Join-Path $TemplateFlow 'tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-01_T1w.nii.gz'
    $null = New-Item -ItemType Directory -Force (Split-Path $tplFile)
    $null = $t1 | Convert-RegImage -Reference (New-Coarse 6 43 43 31) | Export-NiftiImage $tplFile
    $script:Data = Join-Path $Work 'data'
    $bids = Join-Path $Data 'bids'
    $ref = New-Coarse 4 64 64 46
    $c = $g.ToWorld(63.5, 63.5, 30.5)
    foreach ($s in @(@('01', 4, 3, -2, 1), @('02', -3, -2, 2, 0), @('03', 2, 1, 1, -2))) {
        $a = $s[1] * [math]::PI / 180
        $r = [RegPS.Engine.Images.Matrix4]::FromRows([double[][]] @([double[]] @([math]::Cos($a), - [math]::Sin($a), 0, 0),
                [double[]] @([math]::Sin($a), [math]::Cos($a), 0, 0), [double[]] @(0, 0, 1, 0), [double[]] @(0, 0, 0, 1)))
        $A = [RegPS.Engine.Images.Matrix4]::Translation($c.Item1 + $s[2], $c.Item2 + $s[3], $c.Item3 + $s[4]) * $r *
        [RegPS.Engine.Images.Matrix4]::Translation(- $c.Item1, - $c.Item2, - $c.Item3)
        $p = Join-Path $bids "sub-$($s[0])/anat/sub-$($s[0])_T1w.nii.gz"
        $null = New-Item -ItemType Directory -Force (Split-Path $p)
        $null = [RegPS.Engine.Registration.AffineMap]::new($A, $g, $g).Transform($t1) | Convert-RegImage -Reference $ref | Export-NiftiImage $p
    }
    $script:Corrupt = Join-Path $bids 'sub-04/anat/sub-04_T1w.nii.gz'
    $null = New-Item -ItemType Directory -Force (Split-Path $Corrupt)
    [IO.File]::WriteAllBytes($Corrupt, [IO.File]::ReadAllBytes((Join-Path $bids 'sub-01/anat/sub-01_T1w.nii.gz'))[0..1999])

    # The reference: a serial run in this process, with the README's (default) parameters.
    $env:TEMPLATEFLOW_HOME = $TemplateFlow
    $tpl = Get-RegTemplate MNI152NLin2009cAsym -Resolution 1 -Suffix T1w -Offline | Get-NiftiImage
    $script:Serial = Join-Path $Data 'serial'
    $script:SerialResults = Get-ChildItem (Join-Path $bids 'sub-*/anat/*_T1w.nii.gz') |
        Invoke-BidsRegistration -Template $tpl -TemplateName MNI152NLin2009cAsym -OutputRoot $Serial -LogDirectory (Join-Path $Data 'serial-logs') -ErrorAction SilentlyContinue
}

AfterAll {
    # Jobs first (slurmd's job steps are its children), then the daemons this file started, by their ids.
    if ($script:SlurmConf -and (Get-Command scancel -ErrorAction SilentlyContinue)) {
        $env:SLURM_CONF = $script:SlurmConf
        & scancel --quiet --user=(& id -un) 2>$null
        $deadline = [DateTime]::UtcNow.AddSeconds(30)
        while ((& squeue -h 2>$null) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 300 }
    }
    if ($script:Daemons) {
        [array]::Reverse(($list = $script:Daemons.ToArray()))
        foreach ($d in $list) {
            if (-not $d.Process.HasExited) {
                & kill -TERM $d.Process.Id 2>$null
                if (-not $d.Process.WaitForExit(10000)) { $d.Process.Kill($true) }
            }
        }
    }
    Remove-Item Env:SLURM_CONF, Env:TEMPLATEFLOW_HOME -ErrorAction SilentlyContinue
    if ($script:CreatedRunSshd) { Remove-Item /run/sshd -Recurse -Force -ErrorAction SilentlyContinue }
    if ($script:Work -and (Test-Path $script:Work)) { Remove-Item $script:Work -Recurse -Force -ErrorAction SilentlyContinue }
}

Describe 'The serial reference run' {
    It 'registers the three good subjects and fails the corrupt one alone' {
        @($SerialResults | Where-Object Status -EQ 'Registered').Subject | Sort-Object | Should -Be '01', '02', '03'
        ($SerialResults | Where-Object Status -EQ 'Failed').Input | Should -Be $Corrupt
    }
}

Describe 'Get-BidsRegistrationSummary' {
    BeforeAll {
        # A copy of the serial run's derivatives and records, to change.
        $script:Copy = Join-Path $Work 'summary/regps'
        $null = New-Item -ItemType Directory -Force (Split-Path $Copy)
        Copy-Item $Serial $Copy -Recurse
        Copy-Item (Join-Path $Data 'serial-logs') (Join-Path $Copy 'logs') -Recurse
        $script:AllInputs = Get-ChildItem (Join-Path $Data 'bids/sub-*/anat/*_T1w.nii.gz')
    }

    It 'tells registered and failed subjects apart, with the error and the metrics' {
        $s = Get-BidsRegistrationSummary $Copy
        $s.ToString() | Should -Be '4 inputs: 3 done (3 registered, 0 skipped), 1 failed, 0 missing'
        $s.Failures.Subject | Should -Be '04'
        $s.Failures.Error | Should -Match '^RegPS\.Engine\.IO\.ImageFormatException: .*truncated data'
        $s.Failures.Input | Should -Be $Corrupt
        $s.Failures.SlurmJobId | Should -BeNullOrEmpty
        $r = $s.Subjects | Where-Object Subject -EQ '02'
        $json = Get-Content $r.Sidecar -Raw | ConvertFrom-Json
        $r.SynFinalCorrelation | Should -Be $json.SynFinalCorrelation
        $r.Host | Should -Be ([Environment]::MachineName)
        @($r.Outputs).Count | Should -Be 6
        $r.Outputs | ForEach-Object { $_ | Should -Exist }
        $r.Input | Should -Be ($AllInputs | Where-Object Name -EQ 'sub-02_T1w.nii.gz').FullName
    }

    It 'reports a rerun''s skips, an incomplete subject and an input never run' {
        $tpl = Get-RegTemplate MNI152NLin2009cAsym -Resolution 1 -Suffix T1w -Offline | Get-NiftiImage
        $AllInputs | Where-Object Name -NE 'sub-04_T1w.nii.gz' |
            Invoke-BidsRegistration -Template $tpl -TemplateName MNI152NLin2009cAsym -OutputRoot $Copy -LogDirectory (Join-Path $Copy 'logs') |
            ForEach-Object { $_.Status.ToString() } | Should -Be 'Skipped', 'Skipped', 'Skipped'
        Remove-Item (Join-Path $Copy 'sub-03/figures/sub-03_space-MNI152NLin2009cAsym_desc-overlay_T1w.png')
        $never = Join-Path $Data 'bids/sub-05/anat/sub-05_T1w.nii.gz'
        $null = New-Item -ItemType Directory -Force (Split-Path $never)
        Copy-Item ($AllInputs | Where-Object Name -EQ 'sub-01_T1w.nii.gz') $never
        try {
            $s = @($AllInputs.FullName) + $never | Get-BidsRegistrationSummary $Copy
            $s.ToString() | Should -Be '5 inputs: 2 done (0 registered, 2 skipped), 1 failed, 2 missing'
            ($s.Subjects | Where-Object Subject -EQ '03').Message | Should -Match 'incomplete'
            ($s.Subjects | Where-Object Subject -EQ '05').Message | Should -Match 'no sidecar and no record'
            $s.Remaining.Subject | Should -Be '03', '04', '05'
            # Without the inputs, only what the folder knows; another template space has nothing.
            (Get-BidsRegistrationSummary $Copy).Total | Should -Be 4
            (Get-BidsRegistrationSummary $Copy -TemplateName Other).Total | Should -Be 0
        }
        finally { Remove-Item (Join-Path $Data 'bids/sub-05') -Recurse }
    }

    It 'refuses a folder that does not exist, naming it' {
        { Get-BidsRegistrationSummary (Join-Path $Work 'nowhere') -ErrorAction Stop } | Should -Throw '*nowhere*does not exist*'
    }
}

Describe 'New-BidsSlurmJob' {
    It 'writes nothing with -WhatIf' {
        $root = Join-Path $Work 'whatif'
        Get-ChildItem (Join-Path $Data 'bids/sub-*/anat/*_T1w.nii.gz') |
            New-BidsSlurmJob -TemplatePath (Join-Path $TemplateFlow 'tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-01_T1w.nii.gz') -TemplateName MNI152NLin2009cAsym -OutputRoot $root -WhatIf |
            Should -BeNullOrEmpty
        $root | Should -Not -Exist
    }

    It 'writes the array, its task script and the sorted input list' {
        $root = Join-Path $Work 'shape'
        $job = Get-ChildItem (Join-Path $Data 'bids/sub-*/anat/*_T1w.nii.gz') | Sort-Object Name -Descending |
            New-BidsSlurmJob -TemplatePath (Join-Path $TemplateFlow 'tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-01_T1w.nii.gz') -TemplateName MNI152NLin2009cAsym -OutputRoot $root -SubjectsPerTask 3 -CpusPerTask 6 -MaxConcurrentTasks 5 -Memory 2G -TimeLimit 00:10:00 -SbatchOption '--qos=short'
        $job.Tasks | Should -Be 2
        $job.Inputs | Should -Be 4
        $job.JobId | Should -BeNullOrEmpty
        $job.Script | Should -Be (Join-Path $root 'code/regps-MNI152NLin2009cAsym.sbatch')
        (Get-Content $job.InputList) | Should -Be (Get-ChildItem (Join-Path $Data 'bids/sub-*/anat/*_T1w.nii.gz') | ForEach-Object FullName | Sort-Object)
        $sbatch = Get-Content $job.Script
        $sbatch | Should -Contain '#SBATCH --array=0-1%5'
        $sbatch | Should -Contain '#SBATCH --cpus-per-task=6'
        $sbatch | Should -Contain '#SBATCH --mem=2G'
        $sbatch | Should -Contain '#SBATCH --time=00:10:00'
        $sbatch | Should -Contain '#SBATCH --qos=short'
        $sbatch[-1] | Should -Match '^exec .*-NoProfile -NonInteractive -File .*regps-MNI152NLin2009cAsym\.ps1$'
        # The task script parses, and takes its share with the task's CPUs as engine threads.
        $errors = $null
        $null = [Management.Automation.Language.Parser]::ParseFile($job.TaskScript, [ref] $null, [ref] $errors)
        $errors | Should -BeNullOrEmpty
        Get-Content $job.TaskScript -Raw | Should -Match '-MaxDegreeOfParallelism \$Threads'
        Get-Content $job.TaskScript -Raw | Should -Match 'Select-Object -Skip \(\$Task \* 3\) -First 3'
    }
}

Describe 'A BIDS batch as a SLURM job array (README)' {
    BeforeAll {
        if ($Missing.Count -gt 0) { return }
        # munged on its own socket and key, then slurmctld and slurmd on free ports, from tests/cluster/slurm.conf.
        $dir = Join-Path $Work 'slurm'
        foreach ($d in 'state', 'spool') { $null = New-Item -ItemType Directory -Force (Join-Path $dir $d) }
        & chmod 755 $dir
        $key = Join-Path $dir 'munge.key'
        [IO.File]::WriteAllBytes($key, [Security.Cryptography.RandomNumberGenerator]::GetBytes(1024))
        & chmod 600 $key
        $null = Start-Daemon munged (Get-Command munged).Source @('-F', '-f', "--socket=$dir/munge.sock", "--key-file=$key",
            "--pid-file=$dir/munged.pid", "--seed-file=$dir/munged.seed", "--log-file=$dir/munged.log")
        Wait-Until { Test-Path "$dir/munge.sock" } 20 'munged'
        $conf = (Get-Content (Join-Path $PSScriptRoot 'cluster/slurm.conf') -Raw).
            Replace('@HOST@', (& hostname -s)).Replace('@DIR@', $dir).Replace('@USER@', (& id -un)).
            Replace('@CTLD_PORT@', [string] (Get-FreePort)).Replace('@SLURMD_PORT@', [string] (Get-FreePort))
        $script:SlurmConf = Join-Path $dir 'slurm.conf'
        Set-Content $SlurmConf $conf -NoNewline
        $env:SLURM_CONF = $SlurmConf
        $null = Start-Daemon slurmctld (Get-Command slurmctld).Source @('-D', '-f', $SlurmConf)
        $null = Start-Daemon slurmd (Get-Command slurmd).Source @('-D', '-f', $SlurmConf)
        Wait-Until { (& sinfo -h -o '%t' 2>$null) -match '^idle' } 60 'the node to be idle (sinfo)'

        # The README's dataset layout: ./bids, and the template in the TemplateFlow cache.
        $script:Here = Join-Path $Work 'slurm-run'
        $null = New-Item -ItemType Directory -Force $Here
        Copy-Item (Join-Path $Data 'bids') $Here -Recurse
        $script:Out = Join-Path $Here 'bids/derivatives/regps'
        $script:Inputs = Get-ChildItem (Join-Path $Here 'bids/sub-*/anat/*_T1w.nii.gz')
        function Wait-SlurmJob([string] $Id) { Wait-Until { -not (& squeue -h -j $Id 2>$null) } 300 "job $Id to leave the queue" }
        function Read-Summary {
            Push-Location $Here
            try { $null = . ([scriptblock]::Create((Get-ReadmeBlock 'while (squeue'))) } finally { Pop-Location }
            $summary
        }
    }

    It 'submits the array, and a task killed with scancel mid-subject leaves nothing of that subject' {
        if (Skip-Or-Fail $Missing) { return }
        Push-Location $Here
        try { . ([scriptblock]::Create((Get-ReadmeBlock 'New-BidsSlurmJob'))) } finally { Pop-Location }
        $script:Job = $job
        $job.JobId | Should -Match '^\d+$'
        $job.Tasks | Should -Be 2
        # Task 0 has sub-01 then sub-02: wait until sub-01 is recorded and sub-02 is inside its affine stage, then cancel it.
        $log0 = Join-Path $job.SlurmLogDirectory "$($job.Name)_$($job.JobId)_0.out"
        Wait-Until { (Test-Path $log0) -and (Select-String -Path $log0 -Pattern 'sub-02: affine' -SimpleMatch -Quiet) } 240 "task 0 to start sub-02 ($log0)"
        & scancel "$($job.JobId)_0"
        Wait-Until { -not (& squeue -h -j "$($job.JobId)_0" 2>$null) } 60 'task 0 to end'
        Get-Content $log0 -Raw | Should -Match 'sub-01: Registered'
        Get-Content $log0 -Raw | Should -Not -Match 'sub-02: Registered'
        # SIGTERM cancelled sub-02, which removed what it had written (and its folders); no temporary file is left.
        Join-Path $Out 'sub-02' | Should -Not -Exist
        Join-Path $Out 'logs/sub-02_T1w_space-MNI152NLin2009cAsym.json' | Should -Not -Exist
    }

    It 'summarises the interrupted run: done, failed with its error, and the killed subject missing' {
        if (Skip-Or-Fail $Missing) { return }
        if (-not $Job) { throw 'the array was not submitted' }
        $s = Read-Summary
        Get-ChildItem $Out -Recurse -File -Force | Where-Object Name -Like '.*.tmp' | Should -BeNullOrEmpty
        $s.Total | Should -Be 4
        $s.Done | Should -Be 2
        $s.Failed | Should -Be 1
        $s.Missing | Should -Be 1
        ($s.Subjects | Where-Object Subject -EQ '02').Status | Should -Be 'Missing'
        ($s.Subjects | Where-Object Subject -EQ '02').Input | Should -Be ($Inputs | Where-Object Name -EQ 'sub-02_T1w.nii.gz').FullName
        $f = $s.Failures
        $f.Subject | Should -Be '04'
        $f.Error | Should -Match 'ImageFormatException: .*sub-04_T1w\.nii\.gz.*truncated'
        $f.SlurmJobId | Should -Be $Job.JobId
        $f.SlurmArrayTaskId | Should -Be '1'
        $done = $s.Subjects | Where-Object Complete
        $done.Subject | Should -Be '01', '03'
        $done | ForEach-Object { $_.SynFinalCorrelation | Should -BeGreaterThan 0.9 }
        # Each task ran its subjects on SLURM_CPUS_PER_TASK engine threads.
        (Get-Content (Join-Path $Out 'sub-03/anat/sub-03_space-MNI152NLin2009cAsym_desc-preproc_T1w.json') -Raw | ConvertFrom-Json).Parameters.MaxDegreeOfParallelism | Should -Be 4
    }

    It 'resubmitted, finishes only what is missing, and the outputs equal the serial run''s' {
        if (Skip-Or-Fail $Missing) { return }
        if (-not $Job) { throw 'the array was not submitted' }
        $stamps = @{}
        Get-ChildItem $Out -Recurse -File | ForEach-Object { $stamps[$_.FullName] = $_.LastWriteTimeUtc }
        Push-Location $Here
        try { $said = . ([scriptblock]::Create((Get-ReadmeBlock 'sbatch $job.Script'))) } finally { Pop-Location }
        "$said" | Should -Match 'Submitted batch job (\d+)'
        $again = [regex]::Match("$said", 'Submitted batch job (\d+)').Groups[1].Value
        Wait-SlurmJob $again
        $s = Read-Summary
        ($s.Subjects | Where-Object Subject -EQ '02').Status | Should -Be 'Registered'
        @($s.Subjects | Where-Object Status -EQ 'Skipped').Subject | Should -Be '01', '03'
        $s.Failures.Subject | Should -Be '04'
        $s.Failures.SlurmJobId | Should -Be $again
        $s.Missing | Should -Be 0
        # The subjects done by the first array were not rewritten.
        @($stamps.Keys | Where-Object { $_ -match '/sub-0[13]/' }).Count | Should -Be 12
        foreach ($f in $stamps.Keys | Where-Object { $_ -match '/sub-0[13]/' }) { (Get-Item $f).LastWriteTimeUtc | Should -Be $stamps[$f] -Because "$f was done" }
        Assert-SameAsSerial $Out -OtherRawRoot
    }
}

Describe 'A BIDS batch over PowerShell remoting on SSH (README)' {
    BeforeAll {
        if ($SshMissing.Count -gt 0) { return }
        $dir = Join-Path $Work 'ssh'
        $null = New-Item -ItemType Directory -Force $dir
        & chmod 700 $dir
        & ssh-keygen -q -t ed25519 -N '' -f (Join-Path $dir 'host_key')
        & ssh-keygen -q -t ed25519 -N '' -f (Join-Path $dir 'client_key')
        Copy-Item (Join-Path $dir 'client_key.pub') (Join-Path $dir 'authorized_keys')
        # The subsystem: this PowerShell (the pinned dotnet tool), with RegPS on the module path and the TemplateFlow
        # cache of this test, as a host of a cluster would have them installed.
        $dotnet = (Get-Process -Id $PID).Path
        $start = if ([IO.Path]::GetFileNameWithoutExtension($dotnet) -eq 'dotnet') { "'$dotnet' '$(Join-Path $PSHOME 'pwsh.dll')'" } else { "'$dotnet'" }
        $wrapper = Join-Path $dir 'pwsh-sshs'
        Set-Content $wrapper -NoNewline -Value (@(
                '#!/bin/sh'
                "export PSModulePath='$(Split-Path (Split-Path $ModuleDir))'"
                "export TEMPLATEFLOW_HOME='$TemplateFlow'"
                "exec $start `"`$@`""
            ) -join "`n")
        & chmod 755 $wrapper
        $port = Get-FreePort
        Set-Content (Join-Path $dir 'sshd_config') ((Get-Content (Join-Path $PSScriptRoot 'cluster/sshd_config') -Raw).Replace('@DIR@', $dir).Replace('@PORT@', [string] $port))
        if (-not (Test-Path /run/sshd)) { $null = New-Item -ItemType Directory /run/sshd; $script:CreatedRunSshd = $true }
        $null = Start-Daemon sshd /usr/sbin/sshd @('-D', '-e', '-f', (Join-Path $dir 'sshd_config'))
        Wait-Until { try { $t = [Net.Sockets.TcpClient]::new('127.0.0.1', $port); $t.Dispose(); $true } catch { $false } } 20 'sshd to listen'
        # What the README leaves to the reader's ssh set-up: the hosts, and how to reach them.
        $script:SshDefaults = @{
            'New-PSSession:Port'        = $port
            'New-PSSession:UserName'    = (& id -un)
            'New-PSSession:KeyFilePath' = (Join-Path $dir 'client_key')
            'New-PSSession:Options'     = @{ StrictHostKeyChecking = 'no'; UserKnownHostsFile = (Join-Path $dir 'known_hosts'); BatchMode = 'yes' }
        }
        $script:Here = Join-Path $Work 'ssh-run'
        $null = New-Item -ItemType Directory -Force $Here
        Copy-Item (Join-Path $Data 'bids') $Here -Recurse
    }

    It 'fans the subjects out to two sessions and returns results the caller can read' {
        if (Skip-Or-Fail $SshMissing) { return }
        $hosts = 'localhost', 'localhost'
        $PSDefaultParameterValues = $SshDefaults.Clone()
        Push-Location $Here
        try { $shown = . ([scriptblock]::Create((Get-ReadmeBlock 'New-PSSession'))) 2>&1 } finally { Pop-Location }
        @($sessions).Count | Should -Be 2
        $sessions.State | Should -Be 'Closed', 'Closed'
        @($results).Count | Should -Be 4
        # Two processes did the work, two subjects each.
        @($results | Group-Object RunspaceId).Count | Should -Be 2
        $results.PSComputerName | Sort-Object -Unique | Should -Be 'localhost'
        # What crosses the boundary (the README says so): the subject, status, input, outputs, message and timing.
        # Status arrives as a deserialized enum (its number, shown by name): compare its name
        $ok = @($results | Where-Object { $_.Status.ToString() -eq 'Registered' } | Sort-Object Subject)
        $ok.Subject | Should -Be '01', '02', '03'
        foreach ($r in $ok) {
            @($r.Outputs).Count | Should -Be 6
            $r.Outputs | ForEach-Object { $_ | Should -Exist }
            $r.Message | Should -Match '^MI [0-9.]+, correlation 0\.9'
            $r.Elapsed.TotalSeconds | Should -BeGreaterThan 0
            $sidecar = @($r.Outputs | Where-Object { $_ -like '*_desc-preproc_T1w.json' })
            $sidecar.Count | Should -Be 1
            (Get-Content $sidecar[0] -Raw | ConvertFrom-Json).SynFinalCorrelation | Should -BeGreaterThan 0.9
        }
        $bad = @($results | Where-Object { $_.Status.ToString() -eq 'Failed' })
        $bad.Subject | Should -Be '04'
        $bad.Input | Should -BeLike '*sub-04_T1w.nii.gz'
        $bad.Message | Should -Match 'truncated'
        @($bad[0].Outputs).Count | Should -Be 0
        # The failure also reached the caller's error stream, once.
        @($shown | Where-Object { $_ -is [Management.Automation.ErrorRecord] }).Count | Should -Be 1
        # The records the remote runs wrote let the summary tell the same story.
        $s = Get-BidsRegistrationSummary (Join-Path $Here 'bids/derivatives/regps')
        $s.ToString() | Should -Be '4 inputs: 3 done (3 registered, 0 skipped), 1 failed, 0 missing'
        Assert-SameAsSerial (Join-Path $Here 'bids/derivatives/regps') -OtherRawRoot
    }
}
