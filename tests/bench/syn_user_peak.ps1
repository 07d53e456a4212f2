#!/usr/bin/env pwsh
<#
.SYNOPSIS
    SyN as a user runs it, for the `syn` benchmark's memory figure: one PowerShell process imports the built module,
    loads both images with Get-NiftiImage, runs Register-AffineImage and then Register-SynImage -Prealign, and prints
    one JSON line: the process's peak working set (PeakWorkingSet64, i.e. VmHWM), the affine and SyN times, and the
    SyN result's iterations and final correlation.
.EXAMPLE
    dotnet pwsh -NoProfile -File tests/bench/syn_user_peak.ps1 -ModuleDir out/RegPS/0.1.0 -Static static.nii.gz -Moving moving.nii.gz
#>
param(
    [Parameter(Mandatory)] [string] $ModuleDir,
    [Parameter(Mandatory)] [string] $Static,
    [Parameter(Mandatory)] [string] $Moving,
    # 0 = all cores (the cmdlets' default)
    [int] $Threads = 0,
    # Where to write the forward field f (float32, planar: all x components, then y, then z) for scoring; none when empty.
    # The map is y -> P(y + f(y)), P = affine_matrix in the JSON.
    [string] $ForwardOut = ''
)
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $ModuleDir 'RegPS.psd1')
$clock = [Diagnostics.Stopwatch]::StartNew()
$s = Get-NiftiImage -LiteralPath $Static
$m = Get-NiftiImage -LiteralPath $Moving
$load = $clock.Elapsed.TotalSeconds
$clock.Restart()
$affine = Register-AffineImage -Static $s -Moving $m -MaxDegreeOfParallelism $Threads
$affineSeconds = $clock.Elapsed.TotalSeconds
$clock.Restart()
$syn = Register-SynImage -Static $s -Moving $m -Prealign $affine -MaxDegreeOfParallelism $Threads
$synSeconds = $clock.Elapsed.TotalSeconds
$process = [Diagnostics.Process]::GetCurrentProcess()
$process.Refresh()
$peak = $process.PeakWorkingSet64
if ($ForwardOut) {
    # Written after the peak was read, so these copies do not count: one component after another (planar), float32.
    $stream = [IO.File]::Create($ForwardOut)
    try {
        for ($c = 0; $c -lt $syn.Forward.Components; $c++) {
            $values = $syn.Forward.Component($c).ToArray()
            $bytes = [byte[]]::new($values.Length * 4)
            [Buffer]::BlockCopy($values, 0, $bytes, 0, $bytes.Length)
            $stream.Write($bytes, 0, $bytes.Length)
        }
    }
    finally { $stream.Dispose() }
}
[ordered]@{
    peak_working_set_mb = $peak / 1MB
    load_seconds        = $load
    affine_seconds      = $affineSeconds
    syn_seconds         = $synSeconds
    syn_iterations      = ($syn.IterationsPerLevel -join '+')
    final_correlation   = $syn.FinalCorrelation
    affine_matrix       = $affine.Affine.ToRows()
} | ConvertTo-Json -Compress -Depth 4
