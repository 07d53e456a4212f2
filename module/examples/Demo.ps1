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

Write-Host "`n== Pictures"
$pictures | Format-Table -AutoSize -Wrap | Out-Host
Write-Host "Open them in any image viewer: red = static only, green = moving only, yellow = both agree."
