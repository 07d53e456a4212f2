BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:Static = Get-PhotoImage (Join-Path $Samples 'BrainProtonDensitySlice.png')

    function Get-MeanDisplacement($a, $b, $grid) {
        # Mean distance (mm) between where two matrices send the static grid's pixels.
        $sum = 0.0; $n = 0
        for ($j = 0; $j -lt $grid.NY; $j += 4) { for ($i = 0; $i -lt $grid.NX; $i += 4) {
            $w = $grid.ToWorld($i, $j, 0)
            $p = $a.Apply($w.Item1, $w.Item2, $w.Item3); $q = $b.Apply($w.Item1, $w.Item2, $w.Item3)
            $sum += [math]::Sqrt(($p.Item1 - $q.Item1) * ($p.Item1 - $q.Item1) + ($p.Item2 - $q.Item2) * ($p.Item2 - $q.Item2)); $n++
        } }
        $sum / $n
    }
}

Describe 'Register-AffineImage' {
    It 'recovers a known rigid transform of the sample slice to within 0.1 pixel' {
        # Move the slice by a known rotation about its centre and a shift: moving(x) = static(A x).
        $g = $Static.Grid
        $c = $g.ToWorld(($g.NX - 1) / 2, ($g.NY - 1) / 2, 0)
        $t = [math]::PI * 8 / 180
        $rot = [RegPS.Engine.Images.Matrix4]::new([double[]] @([math]::Cos($t), -[math]::Sin($t), 0, 0, [math]::Sin($t), [math]::Cos($t), 0, 0, 0, 0, 1, 0, 0, 0, 0, 1))
        $a = [RegPS.Engine.Images.Matrix4]::Translation($c.Item1 + 6, $c.Item2 - 9, 0) * $rot * [RegPS.Engine.Images.Matrix4]::Translation(-$c.Item1, -$c.Item2, 0)
        $moving = [RegPS.Engine.Registration.AffineMap]::new($a, $g, $g).Transform($Static)
        $map = Register-AffineImage -Static $Static -Moving $moving -Transform Rigid
        $map | Should -BeOfType ([RegPS.Engine.Registration.AffineMap])
        # The registration maps static to moving points: moving(B x) = static(A B x) = static(x), so B = inverse(A).
        Get-MeanDisplacement $map.Affine $a.Inverse() $g | Should -BeLessThan 0.1
        [math]::Abs($map.Decompose().RotationDegrees[2]) | Should -BeGreaterThan 7.9   # 2D maps rotate about z
        $map.Stages | Should -Contain 'rigid'
        $map.Elapsed.Ticks | Should -BeGreaterThan 0
    }

    It 'runs DIPY''s behaviour with -Preset Dipy and the default''s random points with -SampleCount and -Seed' {
        $g = $Static.Grid
        $c = $g.ToWorld(($g.NX - 1) / 2, ($g.NY - 1) / 2, 0)
        $t = [math]::PI * 5 / 180
        $rot = [RegPS.Engine.Images.Matrix4]::new([double[]] @([math]::Cos($t), -[math]::Sin($t), 0, 0, [math]::Sin($t), [math]::Cos($t), 0, 0, 0, 0, 1, 0, 0, 0, 0, 1))
        $a = [RegPS.Engine.Images.Matrix4]::Translation($c.Item1 - 4, $c.Item2 + 3, 0) * $rot * [RegPS.Engine.Images.Matrix4]::Translation(-$c.Item1, -$c.Item2, 0)
        $moving = [RegPS.Engine.Registration.AffineMap]::new($a, $g, $g).Transform($Static)
        $dipy = Register-AffineImage -Static $Static -Moving $moving -Transform Translation, Rigid -Preset Dipy
        $dipy.Options.Sampling | Should -Be 'Dense'
        $dipy.IterationsPerLevel.Count | Should -Be 6          # every stage at every level, as DIPY
        $dipy.Seed | Should -BeNullOrEmpty                    # dense sampling draws nothing
        Get-MeanDisplacement $dipy.Affine $a.Inverse() $g | Should -BeLessThan 0.1
        $default = Register-AffineImage -Static $Static -Moving $moving -Transform Translation, Rigid -SampleCount 2000, 2000, 4000, 20000 -Seed 7
        $default.Options.Sampling | Should -Be 'Random'
        $default.Options.SampleCounts | Should -Be @(2000, 2000, 4000, 20000)
        $default.Seed | Should -Be 7
        $default.IterationsPerLevel.Count | Should -Be 7       # translation on the three coarser levels, rigid on all four
        Get-MeanDisplacement $default.Affine $a.Inverse() $g | Should -BeLessThan 0.05
        $again = Register-AffineImage -Static $Static -Moving $moving -Transform Translation, Rigid -SampleCount 2000, 2000, 4000, 20000 -Seed 7 -MaxDegreeOfParallelism 1
        $again.Affine.ToArray() | Should -Be $default.Affine.ToArray()
    }

    It 'registers a pipeline of moving images and reports a bad one without stopping' {
        $bad = [RegPS.Engine.Images.Image]::FromVoxels([RegPS.Engine.Images.Grid]::Create3D(8, 8, 8), [float[]]::new(512))
        $maps = @($Static, $bad, $Static) | Register-AffineImage -Static $Static -Transform Translation -LevelIterations 20, 10 -Sigmas 1, 0 -Factors 2, 1 -ErrorVariable errs -ErrorAction SilentlyContinue
        $maps.Count | Should -Be 2
        $errs.Count | Should -Be 1
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'AffineRegistrationFailed*'
    }

    It 'rejects mismatched per-level options with a clear message' {
        { Register-AffineImage $Static $Static -LevelIterations 10, 10 -Sigmas 1 -Factors 2, 1 -ErrorAction Stop } |
            Should -Throw '*one value per level*'
    }

    It 'starts from a previous map with -Initial and completes -Initial names' {
        $first = Register-AffineImage $Static $Static -Transform Translation -LevelIterations 5 -Sigmas 0 -Factors 1
        $second = Register-AffineImage $Static $Static -Transform Translation -LevelIterations 5 -Sigmas 0 -Factors 1 -Initial $first
        $second | Should -Not -BeNullOrEmpty
        $line = 'Register-AffineImage -Initial Cen'
        $c = TabExpansion2 -inputScript $line -cursorColumn $line.Length
        $c.CompletionMatches.CompletionText | Should -Contain 'CentersOfMass'
    }

    It 'writes progress and one verbose line per level' {
        $verbose = Register-AffineImage $Static $Static -Transform Translation -LevelIterations 5, 5 -Sigmas 1, 0 -Factors 2, 1 -Verbose 4>&1 |
            Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        ($verbose.Message -match 'level').Count | Should -BeGreaterOrEqual 2
    }

    It 'shows the decomposition in its default view' {
        $map = Register-AffineImage $Static $Static -Transform Translation -LevelIterations 5 -Sigmas 0 -Factors 1
        $text = $map | Out-String
        $text | Should -Match 'Translation'
        $text | Should -Match 'Rotation'
        $text | Should -Match 'MutualInformation'
    }
}
