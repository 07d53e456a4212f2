# Dot-sourced by every Pester file: imports the built module under test (build.ps1 Test sets REGPS_MODULE_DIR).
$script:ModuleDir = $env:REGPS_MODULE_DIR
if (-not $script:ModuleDir) {
    $script:ModuleDir = Get-ChildItem (Join-Path $PSScriptRoot '../out/RegPS') -Directory | Sort-Object Name | Select-Object -Last 1 -ExpandProperty FullName
}
Import-Module (Join-Path $script:ModuleDir 'RegPS.psd1') -Force
$script:Samples = Join-Path $script:ModuleDir 'samples'

function New-TestVolume {
    # A smooth 3D blob phantom on a grid with 2 mm voxels and the origin at the corner, as a computed image.
    param([int] $N = 24)
    $grid = [RegPS.Engine.Images.Grid]::Create3D($N, $N, $N, 2, 2, 2)
    $data = [float[]]::new($N * $N * $N)
    $c = ($N - 1) / 2
    for ($k = 0; $k -lt $N; $k++) { for ($j = 0; $j -lt $N; $j++) { for ($i = 0; $i -lt $N; $i++) {
        $r2 = ($i - $c) * ($i - $c) + 0.7 * ($j - $c) * ($j - $c) + 1.3 * ($k - $c) * ($k - $c)
        $data[($k * $N + $j) * $N + $i] = [float] (100 * [math]::Exp(-$r2 / (2 * ($N / 5) * ($N / 5))))
    } } }
    [RegPS.Engine.Images.Image]::FromVoxels($grid, $data)
}
