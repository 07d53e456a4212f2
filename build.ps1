#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds, tests, demonstrates and benchmarks RegPS.
.DESCRIPTION
    Build (default)  compiles the solution and lays out an importable module under out/RegPS/<version>/
                     (manifest, assemblies, native SkiaSharp and HarfBuzz libraries per platform, compiled help, samples).
    Test             Build, then the xunit engine tests and the Pester module tests; ends with "N passed, N failed".
    Demo             Build, then runs module/examples/Demo.ps1 on the bundled samples.
    Bench            Build, then the side-by-side comparisons against elastix 5, DIPY 1.6 and nibabel (tests/RegPS.Benchmarks);
                     installs those Debian packages first when apt-get is available as root.
    Fuzz             Fuzzes the readers of untrusted bytes with AFL++ (Debian afl++) through SharpFuzz:
                     ./build.ps1 Fuzz -Target nifti -Minutes 30 (or -Target all); findings land in out/fuzz/<target>/.
    Run it with the pinned PowerShell: dotnet tool restore && dotnet pwsh ./build.ps1 Test
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Demo', 'Bench', 'Fuzz', 'Clean')]
    [string] $Task = 'Build',
    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',
    # Extra arguments for the benchmark runner, e.g. 'compare affine'.
    [string[]] $BenchArgs,
    # Fuzz: the reader to fuzz (see 'dotnet tests/RegPS.Fuzz/bin/Release/net10.0/RegPS.Fuzz.dll targets'), or 'all'.
    [string] $Target = 'all',
    # Fuzz: minutes per target.
    [double] $Minutes = 1,
    # Fuzz: report crashes and hangs but exit 0 (the tests' smoke pass checks that the harness runs, not what it finds).
    [switch] $AllowFindings
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
$root = $PSScriptRoot
$outRoot = Join-Path $root 'out'

function Invoke-Native {
    param([string] $File, [string[]] $Arguments)
    & $File @Arguments | Out-Host
    if ($LASTEXITCODE -ne 0) { throw "$File $($Arguments -join ' ') failed with exit code $LASTEXITCODE" }
}

function Invoke-Pwsh {
    # A child PowerShell of the same version as this one. Under `dotnet pwsh` (the pinned local tool) the process is
    # dotnet itself, so run pwsh.dll from $PSHOME with it; elsewhere run the pwsh executable.
    param([string[]] $Arguments, [switch] $NoThrow)
    $exe = Join-Path $PSHOME $(if ($IsWindows) { 'pwsh.exe' } else { 'pwsh' })
    if (Test-Path $exe) { & $exe @Arguments | Out-Host }
    else { & (Get-Process -Id $PID).Path (Join-Path $PSHOME 'pwsh.dll') @Arguments | Out-Host }
    if (-not $NoThrow -and $LASTEXITCODE -ne 0) { throw "pwsh $($Arguments -join ' ') failed with exit code $LASTEXITCODE" }
}

function Get-ModuleVersion {
    [xml] $props = Get-Content (Join-Path $root 'Directory.Build.props')
    return [string] $props.Project.PropertyGroup.Version
}

function Get-PesterModulePath {
    # .config/Pester.csproj pins the Pester NuGet package through a PackageDownload; restoring it fetches the package.
    $proj = Join-Path $root '.config/Pester.csproj'
    [xml] $x = Get-Content $proj
    $version = ([string] $x.Project.ItemGroup.PackageDownload.Version).Trim('[', ']')
    $nugetRoot = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else { Join-Path ([Environment]::GetFolderPath('UserProfile')) '.nuget/packages' }
    $psd1 = Join-Path $nugetRoot "pester/$version/tools/Pester.psd1"
    if (-not (Test-Path $psd1)) {
        Invoke-Native dotnet @('restore', $proj, '--nologo', '-v', 'q')
    }
    if (-not (Test-Path $psd1)) { throw "Pester $version was restored but $psd1 is missing." }
    return $psd1
}

function Build-Module {
    $version = Get-ModuleVersion
    $moduleDir = Join-Path $outRoot "RegPS/$version"
    Write-Host "Building RegPS $version ($Configuration)"
    Invoke-Native dotnet @('build', (Join-Path $root 'RegPS.sln'), '-c', $Configuration, '--nologo', '-v', 'q', '-clp:ErrorsOnly')

    if (Test-Path $moduleDir) { Remove-Item $moduleDir -Recurse -Force }
    $null = New-Item -ItemType Directory -Path $moduleDir -Force
    $bin = Join-Path $root "src/RegPS/bin/$Configuration/net10.0"
    Get-ChildItem $bin -File | Where-Object { $_.Extension -in '.dll', '.json' -and $_.Name -notlike 'System.Management.Automation*' } |
        Copy-Item -Destination $moduleDir

    Copy-Item (Join-Path $bin 'fonts') -Destination $moduleDir -Recurse   # the overlay titles' font and its licence
    # pwsh does not probe runtimes/<rid>/native for a module's native libraries; lay them out as <rid>/lib* beside
    # the assemblies, where the module's resolver (RegPS.Rendering.SkiaNative) looks first.
    # libHarfBuzzSharp is the text shaper ScottPlot (the motion plot) draws its labels with; same platforms, same layout.
    $native = @{
        'linux-x64'   = 'runtimes/linux-x64/native/{0}.so'
        'linux-arm64' = 'runtimes/linux-arm64/native/{0}.so'
        'osx-x64'     = 'runtimes/osx/native/{0}.dylib'
        'osx-arm64'   = 'runtimes/osx/native/{0}.dylib'
        'win-x64'     = 'runtimes/win-x64/native/{0}.dll'
        'win-arm64'   = 'runtimes/win-arm64/native/{0}.dll'
    }
    foreach ($rid in $native.Keys) {
        $dst = Join-Path $moduleDir $rid
        $null = New-Item -ItemType Directory -Path $dst -Force
        foreach ($lib in 'libSkiaSharp', 'libHarfBuzzSharp') {
            $src = Join-Path $bin ($native[$rid] -f $lib)
            if (-not (Test-Path $src)) { throw "Native library missing from the build output: $src" }
            Copy-Item $src -Destination $dst
        }
    }

    $moduleSrc = Join-Path $root 'module'
    Copy-Item (Join-Path $moduleSrc 'RegPS.psd1') -Destination $moduleDir
    Copy-Item (Join-Path $moduleSrc 'RegPS.Format.ps1xml') -Destination $moduleDir
    Copy-Item (Join-Path $moduleSrc 'RegPS.Types.ps1xml') -Destination $moduleDir
    Copy-Item (Join-Path $moduleSrc 'en-US') -Destination $moduleDir -Recurse   # about_RegPS; Build-Help adds the cmdlets' MAML
    foreach ($folder in 'samples', 'examples') {
        $p = Join-Path $moduleSrc $folder
        if (Test-Path $p) { Copy-Item $p -Destination $moduleDir -Recurse }
    }
    # Stamp the version from Directory.Build.props into the manifest.
    $manifest = Join-Path $moduleDir 'RegPS.psd1'
    (Get-Content $manifest -Raw) -replace "ModuleVersion\s*=\s*'[^']*'", "ModuleVersion = '$version'" | Set-Content $manifest -NoNewline

    Build-Help -ModuleDir $moduleDir
    Write-Host "Module laid out in $moduleDir"
    return $moduleDir
}

function Build-Help {
    param([string] $ModuleDir)
    # Compiles module/help/*.md into MAML (en-US/RegPS.dll-Help.xml). The parameter metadata (types, positions,
    # pipeline input, parameter sets) comes from the built cmdlets, in a child process so no assembly stays loaded here.
    $script = Join-Path $root 'module/help/Build-Help.ps1'
    Invoke-Pwsh @('-NoProfile', '-NonInteractive', '-File', $script, '-ModuleDir', $ModuleDir, '-HelpSource', (Join-Path $root 'module/help'))
}

function Install-BenchTools {
    # The side-by-side comparisons run elastix 5 and DIPY 1.6 on real images from Debian packages (ITK's examples, the
    # Colin27 T1 of mricron-data). Install what is missing when apt-get is there and we may use it; otherwise say so.
    $packages = [ordered]@{
        'elastix'                  = '/usr/bin/elastix'
        'python3-dipy'             = '/usr/lib/python3/dist-packages/dipy'
        'python3-nibabel'          = '/usr/lib/python3/dist-packages/nibabel'
        'python3-scipy'            = '/usr/lib/python3/dist-packages/scipy'
        'python3-skimage'          = '/usr/lib/python3/dist-packages/skimage'
        'insighttoolkit5-examples' = '/usr/share/doc/insighttoolkit5-examples/examples/Data'
        'mricron-data'             = '/usr/share/mricron/templates/ch2.nii.gz'
        'time'                     = '/usr/bin/time'
    }
    $missing = @($packages.Keys | Where-Object { -not (Test-Path $packages[$_]) })
    if ($missing.Count -eq 0) { return }
    $apt = Get-Command apt-get -ErrorAction SilentlyContinue
    $isRoot = $IsLinux -and ((& id -u) -eq '0')
    if ($apt -and $isRoot) {
        Write-Host "Installing the benchmark's tools: $($missing -join ', ')"
        $env:DEBIAN_FRONTEND = 'noninteractive'
        Invoke-Native apt-get @('update', '-qq')
        Invoke-Native apt-get (@('install', '-y', '-qq', '--no-install-recommends') + $missing)
    }
    else {
        Write-Warning "The benchmarks compare against packages that are missing here: $($missing -join ', '). Install them (apt-get install -y $($missing -join ' ')); comparisons without them skip those tools."
    }
}

function Invoke-Fuzz {
    # Builds the harness (tests/RegPS.Fuzz), instruments RegPS's assemblies with SharpFuzz, and runs afl-fuzz on each
    # target for the given time, starting from seeds the harness writes (valid files from RegPS's writers) plus the
    # target's past findings kept as regression inputs in tests/fuzz/<target>/. Prints executions, coverage, crashes
    # and hangs per target; exits non-zero when any target crashed or hung.
    param([string] $Target, [double] $Minutes, [switch] $AllowFindings)
    if (-not (Get-Command afl-fuzz -ErrorAction SilentlyContinue)) { throw 'afl-fuzz is not installed: apt-get install -y afl++' }
    $proj = Join-Path $root 'tests/RegPS.Fuzz'
    Invoke-Native dotnet @('build', $proj, '-c', 'Release', '--nologo', '-v', 'q', '-clp:ErrorsOnly')
    $bin = Join-Path $proj 'bin/Release/net10.0'
    $fuzzRoot = Join-Path $outRoot 'fuzz'
    $inst = Join-Path $fuzzRoot 'bin'
    if (Test-Path $inst) { Remove-Item $inst -Recurse -Force }
    $null = New-Item -ItemType Directory -Path $inst -Force
    Copy-Item (Join-Path $bin '*') -Destination $inst -Recurse
    Invoke-Native dotnet @('tool', 'restore')
    # RegPS's assemblies, and the managed decoders its readers hand untrusted bytes to (PureHDF for .h5, SharpZipLib for
    # .bz2), so that AFL++ sees their branches too. SkiaSharp decodes PNG and JPEG in native code, which stays blind.
    foreach ($dll in 'RegPS.Engine.dll', 'RegPS.Rendering.dll', 'PureHDF.dll', 'ICSharpCode.SharpZipLib.dll') { Invoke-Native dotnet @('sharpfuzz', (Join-Path $inst $dll)) }
    $harness = Join-Path $inst 'RegPS.Fuzz.dll'
    $plain = Join-Path $bin 'RegPS.Fuzz.dll'   # the instrumented copy only runs under afl-fuzz (it writes AFL's shared memory)
    $targets = if ($Target -eq 'all') { & dotnet $plain targets | ForEach-Object { ($_ -split '\s+')[0] } } else { @($Target) }
    $seconds = [math]::Max(5, [int]($Minutes * 60))
    $env:AFL_SKIP_BIN_CHECK = '1'; $env:AFL_NO_UI = '1'; $env:AFL_SKIP_CPUFREQ = '1'
    $env:AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES = '1'; $env:AFL_NO_AFFINITY = '1'
    $env:DOTNET_GCHeapHardLimit = '0x20000000'   # 512 MB: a reader that allocates without bound crashes instead of swapping
    $rows = @(); $bad = 0
    foreach ($t in $targets) {
        $dir = Join-Path $fuzzRoot $t
        if (Test-Path $dir) { Remove-Item $dir -Recurse -Force }
        $seeds = Join-Path $dir 'seeds'
        Invoke-Native dotnet @($plain, 'seeds', $t, $seeds)
        $regression = Join-Path $root "tests/fuzz/$t"
        if (Test-Path $regression) { Get-ChildItem $regression -File | Copy-Item -Destination $seeds }
        $findings = Join-Path $dir 'findings'
        Write-Host "Fuzzing $t for $seconds s ..."
        & afl-fuzz -i $seeds -o $findings -t 10000 -m none -V $seconds -- dotnet $harness fuzz $t | Out-File (Join-Path $dir 'afl.log')
        $statsFile = Join-Path $findings 'default/fuzzer_stats'
        if (-not (Test-Path $statsFile)) { throw "afl-fuzz did not run for $t; see $(Join-Path $dir 'afl.log')" }
        $stats = @{}
        foreach ($line in Get-Content $statsFile) { $k, $v = $line -split '\s*:\s*', 2; $stats[$k.Trim()] = $v.Trim() }
        $crashes = [int]$stats['saved_crashes']; $hangs = [int]$stats['saved_hangs']
        if ($crashes + $hangs -gt 0) { $bad++ }
        $rows += [pscustomobject]@{ Target = $t; Seconds = $stats['run_time']; Executions = $stats['execs_done']; PerSecond = $stats['execs_per_sec']
            Paths = $stats['corpus_count']; Coverage = $stats['bitmap_cvg']; Crashes = $crashes; Hangs = $hangs }
    }
    $rows | Format-Table -AutoSize | Out-Host
    Write-Host "Crashing and hanging inputs, if any, are in $fuzzRoot/<target>/findings/default/{crashes,hangs}; turn each into a regression input in tests/fuzz/<target>/."
    if ($bad -gt 0 -and -not $AllowFindings) { exit 1 }
}

function Invoke-Tests {
    param([string] $ModuleDir)
    $passed = 0; $failed = 0; $skipped = 0

    Write-Host "`n== xunit (engine) =="
    $trxDir = Join-Path $outRoot 'TestResults'
    if (Test-Path $trxDir) { Remove-Item $trxDir -Recurse -Force }
    & dotnet test (Join-Path $root 'tests/RegPS.Engine.Tests') -c $Configuration --no-build --nologo `
        --logger 'console;verbosity=normal' --logger 'trx;LogFileName=engine.trx' --results-directory $trxDir
    $trx = Get-ChildItem $trxDir -Filter *.trx -Recurse | Select-Object -First 1
    if ($null -eq $trx) {
        Write-Host 'xunit produced no results file: counting the whole run as one failure.'
        $failed++
    }
    else {
        [xml] $t = Get-Content $trx.FullName
        $c = $t.TestRun.ResultSummary.Counters
        $passed += [int] $c.passed
        $failed += [int] $c.failed + [int] $c.error + [int] $c.timeout + [int] $c.aborted
        $skipped += [int] $c.notExecuted
        Write-Host "xunit: $($c.passed) passed, $($c.failed) failed, $($c.notExecuted) skipped"
    }

    # The kernels' vector paths against their scalar twins once more with AVX2 (and with it FMA) turned off, the
    # configuration whose widest vectors are 128 bits: what arm64 and older x64 run.
    Write-Host "`n== xunit (vector kernels, DOTNET_EnableAVX2=0) =="
    $trx128 = Join-Path $outRoot 'TestResults128'
    if (Test-Path $trx128) { Remove-Item $trx128 -Recurse -Force }
    $env:DOTNET_EnableAVX2 = '0'
    try {
        & dotnet test (Join-Path $root 'tests/RegPS.Engine.Tests') -c $Configuration --no-build --nologo `
            --filter 'FullyQualifiedName~ComposeSimdTests|FullyQualifiedName~FieldKernelTests|FullyQualifiedName~DecimatedSmoothingTests|FullyQualifiedName~DipyInversionTests|FullyQualifiedName~GaussianTests|FullyQualifiedName~VectorKernel' `
            --logger 'trx;LogFileName=engine128.trx' --results-directory $trx128
    }
    finally { Remove-Item Env:DOTNET_EnableAVX2 }
    $trx = Get-ChildItem $trx128 -Filter *.trx -Recurse -ErrorAction SilentlyContinue | Select-Object -First 1
    if ($null -eq $trx) { Write-Host 'xunit (AVX2 off) produced no results file: counting it as one failure.'; $failed++ }
    else {
        [xml] $t = Get-Content $trx.FullName
        $c = $t.TestRun.ResultSummary.Counters
        $passed += [int] $c.passed
        $failed += [int] $c.failed + [int] $c.error + [int] $c.timeout + [int] $c.aborted
        Write-Host "xunit (AVX2 off): $($c.passed) passed, $($c.failed) failed"
    }

    Write-Host "`n== Pester (module) =="
    $pester = Get-PesterModulePath
    $resultFile = Join-Path $outRoot 'pester.json'
    # A child process, so the module under test is loaded fresh and unloaded afterwards.
    $runner = @'
param($PesterPath, $ModuleDir, $TestsDir, $ResultFile)
Import-Module $PesterPath -Force
$env:REGPS_MODULE_DIR = $ModuleDir
$cfg = New-PesterConfiguration
$cfg.Run.Path = $TestsDir
$cfg.Run.PassThru = $true
$cfg.Output.Verbosity = 'Detailed'
$r = Invoke-Pester -Configuration $cfg
@{ Passed = $r.PassedCount; Failed = $r.FailedCount + $r.FailedBlocksCount + $r.FailedContainersCount; Skipped = $r.SkippedCount } | ConvertTo-Json | Set-Content $ResultFile
'@
    $runnerFile = Join-Path $outRoot 'run-pester.ps1'
    Set-Content -Path $runnerFile -Value $runner
    if (Test-Path $resultFile) { Remove-Item $resultFile }
    Invoke-Pwsh -NoThrow @('-NoProfile', '-NonInteractive', '-File', $runnerFile, '-PesterPath', $pester, '-ModuleDir', $ModuleDir, '-TestsDir', (Join-Path $root 'tests'), '-ResultFile', $resultFile)
    if (Test-Path $resultFile) {
        $p = Get-Content $resultFile -Raw | ConvertFrom-Json
        $passed += $p.Passed; $failed += $p.Failed; $skipped += $p.Skipped
        Write-Host "Pester: $($p.Passed) passed, $($p.Failed) failed, $($p.Skipped) skipped"
    }
    else {
        Write-Host 'Pester produced no results: counting the whole run as one failure.'
        $failed++
    }

    Write-Host ''
    if ($skipped -gt 0) { Write-Host "$passed passed, $failed failed, $skipped skipped" } else { Write-Host "$passed passed, $failed failed" }
    if ($failed -gt 0) { exit 1 }
}

switch ($Task) {
    'Clean' { if (Test-Path $outRoot) { Remove-Item $outRoot -Recurse -Force } }
    'Fuzz' { Invoke-Fuzz -Target $Target -Minutes $Minutes -AllowFindings:$AllowFindings }
    'Build' { $null = Build-Module }
    'Test' { $dir = Build-Module; Invoke-Tests -ModuleDir $dir }
    'Demo' {
        $dir = Build-Module
        Invoke-Pwsh @('-NoProfile', '-NonInteractive', '-File', (Join-Path $dir 'examples/Demo.ps1'), '-OutputDirectory', (Join-Path $outRoot 'demo'))
    }
    'Bench' {
        Install-BenchTools
        $null = Build-Module
        $proj = Join-Path $root 'tests/RegPS.Benchmarks'
        $args2 = if ($BenchArgs) { $BenchArgs } else { @('list') }
        if (-not $BenchArgs) {
            # With no arguments, run every side-by-side comparison in turn.
            $names = & dotnet run -c Release --project $proj -- list | ForEach-Object { ($_ -split '\s+')[0] } | Where-Object { $_ }
            foreach ($n in $names) { Invoke-Native dotnet @('run', '-c', 'Release', '--project', $proj, '--', 'compare', $n) }
        }
        else { Invoke-Native dotnet (@('run', '-c', 'Release', '--project', $proj, '--') + $args2) }
    }
}
