#!/usr/bin/env pwsh
<#
.SYNOPSIS
    RegPS demo on the bundled sample data: load, resample, register (affine, then SyN) and look at the results.
.DESCRIPTION
    Writes stereo overlays (red = static only, green = moving only, yellow = both) before and after registration,
    for 2D slices and a 3D T1 volume, and prints where the pictures are and how far each registration is from the
    known truth. Run it with: dotnet tool restore && dotnet pwsh ./build.ps1 Demo
#>
param(
    [string] $OutputDirectory = (Join-Path ([IO.Path]::GetTempPath()) 'regps-demo')
)
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot '../RegPS.psd1') -Force
$samples = Join-Path $PSScriptRoot '../samples'
$out = (New-Item -ItemType Directory -Path $OutputDirectory -Force).FullName
$pictures = [System.Collections.Generic.List[object]]::new()
function Add-Picture($file, $what) { $pictures.Add([pscustomobject]@{ Picture = $file.FullName; Shows = $what }) }

function Get-MeanDisplacement([RegPS.Engine.Images.Matrix4] $a, [RegPS.Engine.Images.Matrix4] $b, [RegPS.Engine.Images.Grid] $grid) {
    # Mean distance (mm) between where two static-to-moving matrices send the voxels of a grid (every 4th voxel).
    $sum = 0.0; $n = 0
    for ($k = 0; $k -lt $grid.NZ; $k += 4) { for ($j = 0; $j -lt $grid.NY; $j += 4) { for ($i = 0; $i -lt $grid.NX; $i += 4) {
        $w = $grid.ToWorld($i, $j, $k)
        $p = $a.Apply($w.Item1, $w.Item2, $w.Item3); $q = $b.Apply($w.Item1, $w.Item2, $w.Item3)
        $sum += [math]::Sqrt([math]::Pow($p.Item1 - $q.Item1, 2) + [math]::Pow($p.Item2 - $q.Item2, 2) + [math]::Pow($p.Item3 - $q.Item3, 2)); $n++
    } } }
    $sum / $n
}

Write-Host "`n== 2D: a proton-density slice and a copy rotated by 10 degrees and shifted by (13, 17) pixels (ITK examples)"
$pd = Get-PhotoImage "$samples/BrainProtonDensitySlice.png"
$pdMoved = Get-PhotoImage "$samples/BrainProtonDensitySliceR10X13Y17.png"
$pd, $pdMoved | Format-Table | Out-Host
# The moved copy is larger (221x257): put it on the static grid through the headers to compare before registering.
$before = $pdMoved | Convert-RegImage -Reference $pd
Add-Picture (Export-StereoOverlay -Static $pd -Moving $before -Path "$out/2d-rigid-before.png" -Layout ThreePanel -Force) '2D slice and its rotated copy, before registration'
$rigid = Register-AffineImage -Static $pd -Moving $pdMoved -Transform Rigid
$rigid | Out-Host
Add-Picture ($rigid | Export-StereoOverlay -Static $pd -Moving $pdMoved -Path "$out/2d-rigid-after.png" -Layout ThreePanel -Force) '2D slice after rigid registration (yellow = aligned)'

Write-Host "`n== 2D, two contrasts: the T1 slice registered to the proton-density slice by mutual information"
$t1Slice = Get-PhotoImage "$samples/BrainT1Slice.png"
$g = $pd.Grid
$c = $g.ToWorld(($g.NX - 1) / 2, ($g.NY - 1) / 2, 0)
$angle = [math]::PI * 7 / 180
$rot = [RegPS.Engine.Images.Matrix4]::new([double[]] @([math]::Cos($angle), -[math]::Sin($angle), 0, 0, [math]::Sin($angle), [math]::Cos($angle), 0, 0, 0, 0, 1, 0, 0, 0, 0, 1))
$known2d = [RegPS.Engine.Images.Matrix4]::Translation($c.Item1 - 8, $c.Item2 + 5, 0) * $rot * [RegPS.Engine.Images.Matrix4]::Translation(-$c.Item1, -$c.Item2, 0)
$t1Moved = [RegPS.Engine.Registration.AffineMap]::new($known2d, $g, $t1Slice.Grid).Transform($t1Slice)
$mm = Register-AffineImage -Static $pd -Moving $t1Moved -Transform Rigid
Write-Host ("  T1 moved by a known 7 degree rotation and (-8, 5) px shift; recovered to {0:0.000} px mean displacement" -f (Get-MeanDisplacement $mm.Affine $known2d.Inverse() $g))
Add-Picture (Export-StereoOverlay -Static $pd -Moving $t1Moved -Path "$out/2d-multimodal-before.png" -Force) 'PD (red) and moved T1 (green), before'
Add-Picture ($mm | Export-StereoOverlay -Static $pd -Moving $t1Moved -Path "$out/2d-multimodal-after.png" -Force) 'PD (red) and T1 (green) after mutual-information registration'

Write-Host "`n== 3D: a real T1 volume (128x128x62, 2x2x3 mm, LSA) and a copy moved by a known affine, stored at 2.5 mm"
$t1 = Get-NiftiImage "$samples/KmeansTest_T1UCharRaw.nii.gz"
$t1 | Format-Table | Out-Host
# The moved copy: rotations about two axes, ~10 mm translation, 5% scale and a slight shear about the volume centre,
# resampled onto a 2.5 mm grid in RAS orientation (a different voxel size and orientation than the static image).
$tg = $t1.Grid
$cc = $tg.ToWorld(($tg.NX - 1) / 2, ($tg.NY - 1) / 2, ($tg.NZ - 1) / 2)
$ax = [math]::PI * 6 / 180; $az = [math]::PI * -4 / 180
$rx = [RegPS.Engine.Images.Matrix4]::new([double[]] @(1, 0, 0, 0, 0, [math]::Cos($ax), -[math]::Sin($ax), 0, 0, [math]::Sin($ax), [math]::Cos($ax), 0, 0, 0, 0, 1))
$rz = [RegPS.Engine.Images.Matrix4]::new([double[]] @([math]::Cos($az), -[math]::Sin($az), 0, 0, [math]::Sin($az), [math]::Cos($az), 0, 0, 0, 0, 1, 0, 0, 0, 0, 1))
$shear = [RegPS.Engine.Images.Matrix4]::new([double[]] @(1.05, 0.03, 0, 0, 0, 1.05, 0, 0, 0, 0, 1.05, 0, 0, 0, 0, 1))
$known3d = [RegPS.Engine.Images.Matrix4]::Translation($cc.Item1 + 6, $cc.Item2 - 5, $cc.Item3 + 6) * $rz * $rx * $shear * [RegPS.Engine.Images.Matrix4]::Translation(-$cc.Item1, -$cc.Item2, -$cc.Item3)
# The T1's field of view is 256 x 186 x 256 mm (RAS extents); the moved grid covers it at 2.5 mm, centred on it.
$movedGrid = [RegPS.Engine.Images.Grid]::new(104, 80, 104,
    [RegPS.Engine.Images.Matrix4]::Translation($cc.Item1 - 51.5 * 2.5, $cc.Item2 - 39.5 * 2.5, $cc.Item3 - 51.5 * 2.5) * [RegPS.Engine.Images.Matrix4]::Scaling(2.5, 2.5, 2.5), 3)
# moving(y) = t1(inverse(A) y): the registration (static = t1) must then find A.
$t1Moved3d = [RegPS.Engine.Registration.AffineMap]::new($known3d.Inverse(), $movedGrid, $tg).Transform($t1)
$t1Moved3d | Export-NiftiImage "$out/T1_moved.nii.gz" -Force | Out-Null
$onStatic = $t1Moved3d | Convert-RegImage -Reference $t1
Add-Picture (Export-StereoOverlay -Static $t1 -Moving $onStatic -Path "$out/3d-before.png" -Axis Axial -Layout ThreePanel -Force) '3D T1 and its moved copy resampled onto the T1 grid (headers only), before'
$affine = Register-AffineImage -Static $t1 -Moving $t1Moved3d
$affine | Out-Host
Write-Host ("  recovered the known affine to {0:0.000} mm mean displacement ({1:0.000} voxels of 2 mm)" -f ($d = Get-MeanDisplacement $affine.Affine $known3d $tg), ($d / 2))
$affine.Transform($t1Moved3d) | Export-NiftiImage "$out/T1_moved_registered.nii.gz" -Force | Out-Null
foreach ($axis in 'Axial', 'Coronal', 'Sagittal') {
    Add-Picture ($affine | Export-StereoOverlay -Static $t1 -Moving $t1Moved3d -Path "$out/3d-after-$($axis.ToLower()).png" -Axis $axis -Layout ThreePanel -Force) "3D after affine registration, $axis"
}

function Get-Correlation($a, $b) {
    # Pearson correlation of two images on one grid (computed in the engine's own float32 buffers).
    $x = $a.ToArray(); $y = $b.ToArray(); $n = $x.Length
    $mx = [Linq.Enumerable]::Average([double[]] $x); $my = [Linq.Enumerable]::Average([double[]] $y)
    $sxy = 0.0; $sxx = 0.0; $syy = 0.0
    for ($i = 0; $i -lt $n; $i++) { $dx = $x[$i] - $mx; $dy = $y[$i] - $my; $sxy += $dx * $dy; $sxx += $dx * $dx; $syy += $dy * $dy }
    $sxy / [math]::Sqrt($sxx * $syy)
}

Write-Host "`n== 2D SyN: the slice and a copy deformed by a smooth B-spline warp (ITK examples): affine, then SyN"
$warped = Get-PhotoImage "$samples/BrainProtonDensitySliceBSplined10.png"
$affine2d = Register-AffineImage -Static $pd -Moving $warped
$syn2d = Register-SynImage -Static $pd -Moving $warped -Prealign $affine2d
$syn2d | Out-Host
Write-Host ("  correlation with the static slice: headers only {0:0.000}, after affine {1:0.000}, after SyN {2:0.000}; folded voxels {3}" -f `
    (Get-Correlation $pd ($warped | Convert-RegImage -Reference $pd)), (Get-Correlation $pd $affine2d.Transform($warped)), (Get-Correlation $pd $syn2d.Transform($warped)), $syn2d.FoldedVoxels)
Add-Picture (Export-StereoOverlay -Static $pd -Moving ($warped | Convert-RegImage -Reference $pd) -Path "$out/2d-syn-before.png" -Layout ThreePanel -Force) 'B-spline-warped slice, before registration'
Add-Picture ($affine2d | Export-StereoOverlay -Static $pd -Moving $warped -Path "$out/2d-syn-after-affine.png" -Layout ThreePanel -Force) 'B-spline-warped slice after affine registration'
Add-Picture ($syn2d | Export-StereoOverlay -Static $pd -Moving $warped -Path "$out/2d-syn-after-syn.png" -Layout ThreePanel -Force) 'B-spline-warped slice after affine + SyN'
Add-Picture ($syn2d | Export-DeformationGrid -Path "$out/2d-syn-grid.png" -Underlay $pd -Force) 'the SyN warp drawn as a deformed grid over the static slice'

Write-Host "`n== 2D SyN: DIPY's circle and C (64x64), DIPY's tutorial settings (-Preset Dipy: this large a deformation of so small an image needs DIPY's long coarse level)"
$small = [RegPS.Engine.Images.Grid]::new(64, 64, 1, [RegPS.Engine.Images.Matrix4]::Translation(1.5, 1.5, 0) * [RegPS.Engine.Images.Matrix4]::Scaling(4, 4, 1), 2)
$smallRef = [RegPS.Engine.Images.Image]::FromVoxels($small, [float[]]::new(64 * 64))
$circle = Get-PhotoImage "$samples/dipy_circle.png" | Convert-RegImage -Reference $smallRef
$cShape = Get-PhotoImage "$samples/dipy_C.png" | Convert-RegImage -Reference $smallRef
$synC = Register-SynImage -Static $circle -Moving $cShape -Preset Dipy
Write-Host ("  correlation with the circle: before {0:0.000}, after SyN {1:0.000}; folded voxels {2}" -f (Get-Correlation $circle $cShape), (Get-Correlation $circle $synC.Transform($cShape)), $synC.FoldedVoxels)
Add-Picture ($synC | Export-StereoOverlay -Static $circle -Moving $cShape -Path "$out/2d-circle-c-after.png" -Layout ThreePanel -Force) 'the C warped onto the circle'
Add-Picture ($synC | Export-DeformationGrid -Path "$out/2d-circle-c-grid.png" -Underlay $circle -LineSpacing 4 -Force) 'the circle-to-C warp as a deformed grid'

Write-Host "`n== 3D SyN after the affine: the moved T1 copy, saved as ANTs-convention files"
$syn3d = Register-SynImage -Static $t1 -Moving $t1Moved3d -Prealign $affine
$syn3d | Out-Host
Write-Host ("  correlation with the static T1: after affine {0:0.0000}, after SyN {1:0.0000}" -f (Get-Correlation $t1 $affine.Transform($t1Moved3d)), (Get-Correlation $t1 $syn3d.Transform($t1Moved3d)))
$saved = $syn3d | Export-RegTransform "$out/T1_moved_xfm.json" -Force
Write-Host "  saved: $(($saved | ForEach-Object Name) -join ', ')"
$again = Import-RegTransform "$out/T1_moved_xfm.json"
$t1Moved3d | Invoke-RegTransform -Map $again | Export-NiftiImage "$out/T1_moved_syn.nii.gz" -Force | Out-Null
Add-Picture ($syn3d | Export-StereoOverlay -Static $t1 -Moving $t1Moved3d -Path "$out/3d-after-syn-coronal.png" -Axis Coronal -Layout ThreePanel -Force) '3D after affine + SyN, coronal'
Add-Picture ($syn3d | Export-DeformationGrid -Path "$out/3d-syn-grid-coronal.png" -Axis Coronal -Underlay $t1 -LineSpacing 4 -Force) '3D SyN warp, coronal slice'

Write-Host "`n== Motion correction: a 40-volume BOLD-like run made from the T1, with known head motion"
# Made here, at demo time (nothing extra is shipped): the T1 smoothed to a BOLD-like point-spread and sampled on a
# 48x48x24 grid of 4x4x5 mm with the head moved per volume by a known rigid motion (drifts up to 1.5 mm / 1.5 degrees
# and two spikes), plus 2% noise. Volume t at world y holds T1(M_t^-1 y); the middle volume does not move.
function Get-Motion([double[]] $p, [double[]] $c) {
    # M x = Rx Ry Rz (x - c) + c + t; p = tx ty tz (mm), rx ry rz (degrees).
    $a, $b, $g = ($p[3..5] | ForEach-Object { $_ * [math]::PI / 180 })
    $rx = [RegPS.Engine.Images.Matrix4]::new([double[]] @(1, 0, 0, 0, 0, [math]::Cos($a), -[math]::Sin($a), 0, 0, [math]::Sin($a), [math]::Cos($a), 0, 0, 0, 0, 1))
    $ry = [RegPS.Engine.Images.Matrix4]::new([double[]] @([math]::Cos($b), 0, [math]::Sin($b), 0, 0, 1, 0, 0, -[math]::Sin($b), 0, [math]::Cos($b), 0, 0, 0, 0, 1))
    $rz = [RegPS.Engine.Images.Matrix4]::new([double[]] @([math]::Cos($g), -[math]::Sin($g), 0, 0, [math]::Sin($g), [math]::Cos($g), 0, 0, 0, 0, 1, 0, 0, 0, 0, 1))
    [RegPS.Engine.Images.Matrix4]::Translation($c[0] + $p[0], $c[1] + $p[1], $c[2] + $p[2]) * $rx * $ry * $rz * [RegPS.Engine.Images.Matrix4]::Translation(-$c[0], -$c[1], -$c[2])
}
# The T1's field of view cuts the head at the front and back, 3 mm inside this grid: padded with zeros first, so that the
# cut gets the same point-spread as the rest of the head (left sharp, it would look different at each sub-voxel shift).
$tg = $t1.Grid
$padGrid = [RegPS.Engine.Images.Grid]::new($tg.NX + 12, $tg.NY + 12, $tg.NZ + 12, $tg.GridToWorld * [RegPS.Engine.Images.Matrix4]::Translation(-6, -6, -6), 3)
$padded = [RegPS.Engine.Resampling.Resampler]::Resample($t1, $padGrid, $null, 'Nearest', 'Constant', 0)
$smooth = [RegPS.Engine.Filters.Gaussian]::Smooth($padded, [double[]] @(0.85, 0.85, 0.57), 0)
$cw = $t1.Grid.ToWorld(63.5, 63.5, 30.5); $centre = [double[]] @($cw.Item1, $cw.Item2, $cw.Item3)
$bg = [RegPS.Engine.Images.Grid]::new(48, 48, 24, [RegPS.Engine.Images.Matrix4]::new([double[]] @(
    4, 0, 0, ($centre[0] - 4 * 23.5), 0, 4, 0, ($centre[1] - 4 * 23.5), 0, 0, 5, ($centre[2] - 5 * 11.5), 0, 0, 0, 1)), 3)
$nv = 40; $nvox = $bg.VoxelCount
$truth = [System.Collections.Generic.List[double[]]]::new()
$rng = [Random]::new(5)
$boldData = [float[]]::new($nvox * $nv)
for ($t = 0; $t -lt $nv; $t++) {
    $s = ($t - 20) / 20.0
    $p = [double[]] @((1.5 * $s), (-1.0 * $s), (1.2 * $s), (1.5 * $s), (-1.2 * $s), (0.8 * $s))
    if ($t -in 8, 9) { $p[0] += 0.8; $p[2] -= 1.0; $p[3] += 1.0 }
    if ($t -eq 31) { $p[1] += 1.2; $p[4] += 1.0; $p[5] -= 0.7 }
    $truth.Add($p)
    $vol = [RegPS.Engine.Resampling.Resampler]::Resample($smooth, $bg, (Get-Motion $p $centre).Inverse(), 'BSpline', 'Constant', 0).ToArray()
    for ($i = 0; $i -lt $nvox; $i++) { $boldData[$t * $nvox + $i] = $vol[$i] + 2.0 * ($rng.NextDouble() + $rng.NextDouble() - 1) }
}
$bold = [RegPS.Engine.Images.Image]::new($bg, $boldData, $nv, $null, $null, 'float32', $null)
$bold | Export-NiftiImage "$out/sub-demo_task-rest_bold.nii.gz" -Force | Out-Null
$mc = Register-ImageSeries -LiteralPath "$out/sub-demo_task-rest_bold.nii.gz" -MaxDegreeOfParallelism 2
$errT = 0.0; $errR = 0.0
for ($t = 0; $t -lt $nv; $t++) {
    $q = $mc.Parameters[$t]
    $errT += ([math]::Abs($q.TransX - $truth[$t][0]) + [math]::Abs($q.TransY - $truth[$t][1]) + [math]::Abs($q.TransZ - $truth[$t][2])) / (3 * $nv)
    $errR += ([math]::Abs($q.RotX * 180 / [math]::PI - $truth[$t][3]) + [math]::Abs($q.RotY * 180 / [math]::PI - $truth[$t][4]) + [math]::Abs($q.RotZ * 180 / [math]::PI - $truth[$t][5])) / (3 * $nv)
}
Write-Host ("  {0} volumes in {1:0.00} s ({2:0.000} s per volume and pass); mean FD {3:0.000} mm, {4} volumes above 0.5 mm" -f $mc.Volumes, $mc.Elapsed.TotalSeconds, $mc.SecondsPerVolume, $mc.MeanFramewiseDisplacement, $mc.VolumesAbove05mm)
Write-Host ("  recovered motion vs the known one: mean error {0:0.000} mm (translations), {1:0.000} degrees (rotations)" -f $errT, $errR)
$mc | Export-MotionParameters "$out/sub-demo_task-rest_desc-confounds_timeseries.tsv" -Force | Out-Null
Add-Picture ($mc | Export-MotionPlot "$out/sub-demo_task-rest_motion.png" -Threshold 0.5 -Force) 'motion correction: translations, rotations and framewise displacement per volume'

Write-Host "`n== Pictures"
$pictures | Format-Table -AutoSize -Wrap | Out-Host
Write-Host "Open them in any image viewer: red = static only, green = moving only, yellow = both agree."
