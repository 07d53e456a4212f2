BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:Home1 = (New-Item -ItemType Directory 'TestDrive:/tf').FullName
    $script:Sample = Join-Path $Samples 'KmeansTest_T1UCharRaw.nii.gz'

    # A one-file HTTP server on the loopback interface, in a thread job. It counts the requests it answers, says when it
    # is listening, and stops by itself when asked (or after 60 s), so a failing test can never leave it hanging.
    function Start-LoopbackServer([string] $File) {
        $probe = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
        $probe.Start(); $port = $probe.LocalEndpoint.Port; $probe.Stop()
        $state = [hashtable]::Synchronized(@{ Requests = 0; Ready = $false; Stop = $false })
        $job = Start-ThreadJob -ArgumentList $port, $File, $state -ScriptBlock {
            param($port, $file, $state)
            $http = [System.Net.HttpListener]::new()
            $http.Prefixes.Add("http://127.0.0.1:$port/")
            $http.Start()
            $state.Ready = $true
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            try {
                $pending = $http.GetContextAsync()
                while (-not $state.Stop -and [DateTime]::UtcNow -lt $deadline) {
                    if (-not $pending.Wait(100)) { continue }
                    $ctx = $pending.Result
                    $state.Requests++
                    if ($ctx.Request.Url.AbsolutePath -like '*_res-01_T1w.nii.gz') {
                        $bytes = [IO.File]::ReadAllBytes($file)
                        $ctx.Response.ContentType = 'application/octet-stream'
                        $ctx.Response.ContentLength64 = $bytes.Length
                        $ctx.Response.OutputStream.Write($bytes, 0, $bytes.Length)
                    }
                    else { $ctx.Response.StatusCode = 404 }
                    $ctx.Response.Close()
                    $pending = $http.GetContextAsync()
                }
            }
            finally { $http.Close() }
        }
        $wait = [DateTime]::UtcNow.AddSeconds(20)
        while (-not $state.Ready -and [DateTime]::UtcNow -lt $wait) { Start-Sleep -Milliseconds 20 }
        [pscustomobject]@{ Uri = [uri] "http://127.0.0.1:$port/"; Job = $job; State = $state }
    }

    function Stop-LoopbackServer($server) {
        $server.State.Stop = $true
        $null = $server.Job | Wait-Job -Timeout 10
        $server.Job | Remove-Job -Force
    }
}

Describe 'Get-RegTemplate' {
    It 'finds a file laid out as the Python client lays it out, without the network' {
        $dir = New-Item -ItemType Directory "$Home1/tpl-MNI152NLin2009cAsym" -Force
        Copy-Item $Sample "$dir/tpl-MNI152NLin2009cAsym_res-02_T1w.nii.gz"
        $f = Get-RegTemplate MNI152NLin2009cAsym -Resolution 2 -TemplateFlowHome $Home1 -Offline
        $f | Should -BeOfType ([IO.FileInfo])
        $f.Name | Should -Be 'tpl-MNI152NLin2009cAsym_res-02_T1w.nii.gz'
        ($f | Get-NiftiImage).Grid.NX | Should -Be 128
    }

    It 'offline, names the missing file and how to fetch it' {
        $null = Get-RegTemplate MNI152NLin6Asym -Resolution 1 -Desc brain -Suffix mask -TemplateFlowHome $Home1 -Offline -ErrorVariable errs -ErrorAction SilentlyContinue
        $errs.Count | Should -Be 1
        $errs[0].Exception.Message | Should -Match 'tpl-MNI152NLin6Asym_res-01_desc-brain_mask\.nii\.gz'
        $errs[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'downloads a missing file from a server into the cache, with its checksum, then serves it from the cache' {
        $server = Start-LoopbackServer $Sample
        try {
            $home2 = (New-Item -ItemType Directory 'TestDrive:/tf2').FullName
            $f = Get-RegTemplate MNI152NLin2009cAsym -Resolution 1 -TemplateFlowHome $home2 -BaseUri $server.Uri
            $f.FullName | Should -Be (Join-Path $home2 'tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-01_T1w.nii.gz')
            (Get-FileHash $f.FullName).Hash | Should -Be (Get-FileHash $Sample).Hash
            (Get-Content ([RegPS.Engine.Templates.TemplateFlowClient]::ChecksumPath($f.FullName)) -Raw) | Should -Match ((Get-FileHash $Sample).Hash.ToLowerInvariant())
            $server.State.Requests | Should -Be 1
            $again = Get-RegTemplate MNI152NLin2009cAsym -Resolution 1 -TemplateFlowHome $home2 -BaseUri $server.Uri
            $again.FullName | Should -Be $f.FullName
            $server.State.Requests | Should -Be 1
            # A file the server does not have is an error naming the status.
            $null = Get-RegTemplate MNI152NLin2009cAsym -Resolution 1 -Suffix T2w -TemplateFlowHome $home2 -BaseUri $server.Uri -ErrorVariable errs -ErrorAction SilentlyContinue
            $errs[0].Exception.Message | Should -Match '404'
            "$home2/tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-01_T2w.nii.gz" | Should -Not -Exist
            Get-ChildItem "$home2/tpl-MNI152NLin2009cAsym" -Force -Filter '*.part' | Should -BeNullOrEmpty
        }
        finally { Stop-LoopbackServer $server }
    }

    It 'completes template names' {
        $line = 'Get-RegTemplate MNI152NLin20'
        $c = TabExpansion2 -inputScript $line -cursorColumn $line.Length
        $c.CompletionMatches.CompletionText | Should -Contain 'MNI152NLin2009cAsym'
    }
}
