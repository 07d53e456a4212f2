using System.Globalization;
using System.Text.Json;
using RegPS.Engine.Images;
using RegPS.Engine.Registration;
using RegPS.Engine.Tests.TestSupport;

namespace RegPS.Engine.Tests.Registration.Syn;

/// <summary>
/// The two SyN presets: DIPY's (SynOptions.Dipy) against DIPY 1.6 itself on the same images, and RegPS's default
/// (new SynOptions()) on a 1 mm volume, where it optimises down to the 2 mm level and expands the map to the image grid.
/// </summary>
public class SynPresetTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public void PresetsHoldTheirDocumentedSettings()
    {
        var d = SynOptions.Dipy;
        Assert.Equal(SynPreset.Dipy, d.Preset);
        Assert.Equal((4, 2.0, 0.25, true, 0.0), (d.Radius!.Value, d.SigmaDiff, d.StepLength, d.StopAtConvergence, d.MinimumOptimizedSpacing));
        Assert.Equal((4, 4), (d.RadiusFor(3), d.RadiusFor(2)));
        Assert.Equal(SynStepScaling.EachIteration, d.StepScaling);
        Assert.Equal(4.0, d.SmoothingTruncate);
        Assert.Equal(RegPS.Engine.Resampling.Interpolation.Linear, d.ImageLevelInterpolation);
        Assert.Equal((SynReinversion.EveryIteration, SynReinversion.EveryIteration), (d.ReinversionFor(3), d.ReinversionFor(2)));
        Assert.Equal(SynStepSmoothing.Exact, d.StepSmoothing);
        Assert.Equal((SynInversionSteps.UntilConverged, SynInversionSteps.UntilConverged), (d.InversionStepsFor(3), d.InversionStepsFor(2)));
        Assert.Equal(new[] { 100, 100, 25 }, d.IterationsFor(3));
        Assert.Equal(new[] { 100, 100, 25 }, d.IterationsFor(2));
        var r = new SynOptions();
        Assert.Equal(SynPreset.Default, r.Preset);
        Assert.Null(r.Radius);
        Assert.Equal((2, 4), (r.RadiusFor(3), r.RadiusFor(2)));
        Assert.Equal(3, (r with { Radius = 3 }).RadiusFor(2));
        Assert.Equal((5.0, 0.25, false, 1.5), (r.SigmaDiff, r.StepLength, r.StopAtConvergence, r.MinimumOptimizedSpacing));
        Assert.Equal(SynStepScaling.LevelMaximum, r.StepScaling);
        Assert.Equal(3.0, r.SmoothingTruncate);
        Assert.Equal(RegPS.Engine.Resampling.Interpolation.BSpline, r.ImageLevelInterpolation);
        Assert.Null(r.Reinversion);
        Assert.Equal(SynStepSmoothing.Interpolated, r.StepSmoothing);
        Assert.Null(r.InversionSteps);
        Assert.Equal((SynInversionSteps.OneOnFinerLevels, SynInversionSteps.UntilConverged), (r.InversionStepsFor(3), r.InversionStepsFor(2)));
        Assert.Equal(SynInversionSteps.OneOnFinerLevels, (r with { InversionSteps = SynInversionSteps.OneOnFinerLevels }).InversionStepsFor(2));
        Assert.Throws<ArgumentException>(() => SynRegistration.Register(SynTestData.Phantom(Grid.Create3D(12, 12, 12), 1),
            SynTestData.Phantom(Grid.Create3D(12, 12, 12), 1), null, r with { InversionSteps = (SynInversionSteps)9 }));
        Assert.Throws<ArgumentException>(() => SynRegistration.Register(SynTestData.Phantom(Grid.Create3D(12, 12, 12), 1),
            SynTestData.Phantom(Grid.Create3D(12, 12, 12), 1), null, r with { StepSmoothing = (SynStepSmoothing)5 }));
        Assert.Equal((SynReinversion.ImageLevelLast, SynReinversion.EveryIteration), (r.ReinversionFor(3), r.ReinversionFor(2)));
        Assert.Equal(SynReinversion.ImageLevelLast, (r with { Reinversion = SynReinversion.ImageLevelLast }).ReinversionFor(2));
        Assert.Throws<ArgumentException>(() => SynRegistration.Register(SynTestData.Phantom(Grid.Create3D(12, 12, 12), 1),
            SynTestData.Phantom(Grid.Create3D(12, 12, 12), 1), null, r with { Reinversion = (SynReinversion)7 }));
        Assert.Throws<ArgumentException>(() => SynRegistration.Register(SynTestData.Phantom(Grid.Create3D(12, 12, 12), 1),
            SynTestData.Phantom(Grid.Create3D(12, 12, 12), 1), null, r with { ImageLevelInterpolation = RegPS.Engine.Resampling.Interpolation.Lanczos }));
        Assert.Equal(new[] { 20, 20, 4 }, r.IterationsFor(3));
        Assert.Equal(new[] { 30, 40, 40 }, r.IterationsFor(2));
        Assert.Equal(new[] { 7, 3 }, (r with { LevelIterations = new[] { 7, 3 } }).IterationsFor(3));
        Assert.Equal(SynPreset.Dipy, SynOptions.For(SynPreset.Dipy).Preset);
        Assert.Equal(new[] { 100, 100, 25 }, SynOptions.For(SynPreset.Dipy).LevelIterations);
        Assert.Equal(SynPreset.Default, SynOptions.For(SynPreset.Default).Preset);
        Assert.Null(SynOptions.For(SynPreset.Default).LevelIterations);
    }

    [Fact]
    public void LevelsFinerThanTheMinimumSpacingAreLeftOutIn3DOnly()
    {
        var one = SynRegistration.Pyramid(Grid.Create3D(40, 40, 40, 1, 1, 1), 3, 0.2);
        Assert.Equal(1, SynRegistration.LowestOptimizedLevel(one, 3, 1.5));
        Assert.Equal(0, SynRegistration.LowestOptimizedLevel(one, 3, 0));
        Assert.Equal(0, SynRegistration.LowestOptimizedLevel(one, 2, 1.5));
        // 2x2x3 mm: the image level itself is coarse enough
        Assert.Equal(0, SynRegistration.LowestOptimizedLevel(SynRegistration.Pyramid(Grid.Create3D(40, 40, 30, 2, 2, 3), 3, 0.2), 3, 1.5));
        // 0.4 mm: down to the 1.6 mm level; a minimum no level reaches leaves the coarsest
        var fine = SynRegistration.Pyramid(Grid.Create3D(40, 40, 40, 0.4, 0.4, 0.4), 3, 0.2);
        Assert.Equal(2, SynRegistration.LowestOptimizedLevel(fine, 3, 1.5));
        Assert.Equal(2, SynRegistration.LowestOptimizedLevel(fine, 3, 10));
        Assert.Throws<ArgumentException>(() => SynRegistration.Register(SynTestData.Phantom(Grid.Create3D(12, 12, 12), 1),
            SynTestData.Phantom(Grid.Create3D(12, 12, 12), 1), null, new SynOptions { MinimumOptimizedSpacing = -1 }));
    }

    /// <summary>A 48x44x36 phantom at 2x2x3 mm and its copy warped by 4 known bumps of up to 6 mm (sigma 20 mm).</summary>
    private static (Image Static, Image Moving, Bumps Warp) WarpedPhantom2x2x3()
    {
        var grid = Grid.Create3D(48, 44, 36, 2, 2, 3);
        var st = SynTestData.Phantom(grid, 13, 30);
        var e = Bumps.Random(29, grid, 4, 3 * 2, 10 * 2);
        return (st, SynTestData.WarpedCopy(st, grid, e, Matrix4.Identity), e);
    }

    /// <summary>
    /// The two step-scaling rules on a 3D phantom warped by known bumps, the last level run for 4, 5 and 6 iterations:
    /// DIPY's rule (every update rescaled to the step length) keeps moving the map by a sizeable amount from one
    /// iteration to the next near the optimum, RegPS's (updates scaled by the level's largest) lets it settle.
    /// </summary>
    [Fact]
    public void LevelMaximumStepsLetTheMapSettle_EachIterationStepsKeepItMoving()
    {
        var (st, mv, e) = WarpedPhantom2x2x3();
        var moves = new Dictionary<SynStepScaling, double>();
        foreach (var scaling in new[] { SynStepScaling.LevelMaximum, SynStepScaling.EachIteration })
        {
            var maps = new[] { 4, 5, 6 }.Select(n => SynRegistration.Register(st, mv, null, new SynOptions
            {
                StepScaling = scaling, LevelIterations = new[] { 10, 10, n },
            })).ToArray();
            // mean |f_n+1 - f_n| over the volume, in voxels (2 mm in-plane), for the last two steps
            double move = 0;
            for (int m = 0; m < 2; m++)
            {
                var a = maps[m].Forward.Values; var b = maps[m + 1].Forward.Values;
                double sum = 0;
                for (int i = 0; i < a.Length; i += 3)
                    sum += Math.Sqrt(Sq((a[i] - b[i]) / 2) + Sq((a[i + 1] - b[i + 1]) / 2) + Sq((a[i + 2] - b[i + 2]) / 3));
                move = Math.Max(move, sum / (a.Length / 3));
            }
            double err = SynTestData.MedianResidualVoxels(maps[2], st, e);
            moves[scaling] = move;
            output.WriteLine($"{scaling}: the map moves {move:0.0000} vox per last-level iteration (largest of the last two); median error {err:0.000} vox after 6");
            Assert.True(err < 0.4, $"{scaling}: median error {err:0.000} voxels");
        }
        Assert.True(moves[SynStepScaling.LevelMaximum] < 0.5 * moves[SynStepScaling.EachIteration],
            $"LevelMaximum moves {moves[SynStepScaling.LevelMaximum]:0.0000} vox per iteration, EachIteration {moves[SynStepScaling.EachIteration]:0.0000}");
        static double Sq(double x) => x * x;
    }

    /// <summary>
    /// The two re-inversion rules on a 3D phantom at 2x2x3 mm warped by known bumps (the image level optimised for 4
    /// iterations): re-inverting the forward half-maps only after the image level's last iteration gives another map
    /// (the rule runs) that is as accurate as re-inverting after every one, and as invertible. With DIPY's early stop,
    /// a level that stops before its count still ends with its forward half-maps inverted back.
    /// </summary>
    [Fact]
    public void ImageLevelLastReinversion_KeepsTheAccuracyAndTheInverse()
    {
        var (st, mv, _) = RuleKeepsTheAccuracyAndTheInverse("EveryIteration", new SynOptions { Reinversion = SynReinversion.EveryIteration }, "ImageLevelLast");
        // early stop: a tolerance every level meets at once ends each level after the energy window's first iterations
        var early = SynRegistration.Register(st, mv, null, new SynOptions { StopAtConvergence = true, OptTol = 1e9, EnergyWindow = 3, LevelIterations = new[] { 10, 10, 10 } });
        Assert.True(early.IterationsPerLevel[2] < 10, $"the image level ran {early.IterationsPerLevel[2]} of 10");
        Assert.True(SynTestData.MeanRoundTripVoxels(early, st) < 0.05, $"round trip after an early stop {SynTestData.MeanRoundTripVoxels(early, st):0.0000} vox");
    }

    /// <summary>
    /// The default (named <paramref name="ruleName"/>) against <paramref name="other"/> on the 2x2x3 mm phantom: another
    /// map (the rule runs), as accurate within 0.01 voxel (median against the known warp), a round trip below 0.05
    /// voxel and at most twice the other's, no fold. Returns the phantom pair and its warp.
    /// </summary>
    private (Image Static, Image Moving, Bumps Warp) RuleKeepsTheAccuracyAndTheInverse(string otherName, SynOptions other, string ruleName)
    {
        var (st, mv, e) = WarpedPhantom2x2x3();
        var o = SynRegistration.Register(st, mv, null, other);
        var d = SynRegistration.Register(st, mv, null, new SynOptions());
        double errO = SynTestData.MedianResidualVoxels(o, st, e), errD = SynTestData.MedianResidualVoxels(d, st, e);
        double rtO = SynTestData.MeanRoundTripVoxels(o, st), rtD = SynTestData.MeanRoundTripVoxels(d, st);
        output.WriteLine($"{otherName}: median error {errO:0.0000} vox, round trip {rtO:0.0000}; {ruleName}: {errD:0.0000} vox, round trip {rtD:0.0000}");
        Assert.NotEqual(o.Forward.Values.ToArray(), d.Forward.Values.ToArray());
        Assert.True(errD < errO + 0.01, $"{ruleName} {errD:0.0000} vox vs {otherName} {errO:0.0000}");
        Assert.True(rtD < 0.05 && rtD < 2 * rtO + 0.005, $"round trip {rtD:0.0000} vox ({otherName} {rtO:0.0000})");
        Assert.Equal(0, d.FoldedVoxels);
        return (st, mv, e);
    }

    /// <summary>
    /// The two inversion rules on the 3D phantom at 2x2x3 mm: one fixed-point iteration per inversion on the levels after
    /// the coarsest gives another map (the rule runs) that is as accurate as iterating every inversion until it
    /// converges, and whose forward and backward fields are as much each other's inverse.
    /// </summary>
    [Fact]
    public void OneInversionStepOnFinerLevels_KeepsTheAccuracyAndTheInverse()
        => RuleKeepsTheAccuracyAndTheInverse("UntilConverged", new SynOptions { InversionSteps = SynInversionSteps.UntilConverged }, "OneOnFinerLevels");

    /// <summary>
    /// A 1 mm volume warped by known bumps of up to 4 mm: the default optimises the 4 mm and 2 mm levels only (20 + 20
    /// iterations, 0 at 1 mm), expands the map to the 1 mm grid, and recovers the warp as well as the full DIPY
    /// schedule with every level optimised; the map stays invertible and unfolded.
    /// </summary>
    [Fact]
    public void Default_At1mm_OptimisesDownTo2mm_AndRecoversTheKnownWarp()
    {
        var grid = new Grid(64, 60, 56, Matrix4.Translation(-20, 15, -8), 3);
        var st = SynTestData.Phantom(grid, 5, 40);
        var e = Bumps.Random(23, grid, 4, 4, 12);
        var mv = SynTestData.WarpedCopy(st, grid, e, Matrix4.Identity);
        var map = SynRegistration.Register(st, mv, null, new SynOptions());
        var dipy = SynRegistration.Register(st, mv, null, SynOptions.Dipy);
        double err = SynTestData.MedianResidualVoxels(map, st, e), errDipy = SynTestData.MedianResidualVoxels(dipy, st, e);
        double roundTrip = SynTestData.MeanRoundTripVoxels(map, st);
        double before = SynRegistrationTests.MedianIdentityResidual(st, e);
        output.WriteLine($"1 mm: identity {before:0.000} vox, default median error {err:0.000} vox ({string.Join("+", map.IterationsPerLevel)}), DIPY preset {errDipy:0.000} vox ({string.Join("+", dipy.IterationsPerLevel)}), round trip {roundTrip:0.0000} vox, folds {map.FoldedVoxels}");
        Assert.Equal(new[] { 20, 20, 0 }, map.IterationsPerLevel);
        Assert.Equal(grid, map.Forward.Grid);
        Assert.Equal(grid, map.Backward.Grid);
        Assert.True(before > 1.0, $"the known warp must be sizeable (median {before:0.00} voxels)");
        Assert.True(err < 0.3, $"median displacement error {err:0.000} voxels (identity: {before:0.00})");
        Assert.True(err < errDipy + 0.05, $"the default ({err:0.000} vox) should be about as accurate as DIPY's schedule ({errDipy:0.000} vox)");
        Assert.Equal(0, map.FoldedVoxels);
        Assert.True(roundTrip < 0.1, $"forward then backward is {roundTrip:0.000} voxels from identity on average");
    }

    /// <summary>
    /// -Preset Dipy against DIPY 1.6's SymmetricDiffeomorphicRegistration(CCMetric(2)) at its defaults, on a 2D phantom
    /// warped by known bumps: the same number of iterations (give or take one at a level, where float rounding moves the
    /// convergence test) and forward fields that agree to a small fraction of a pixel.
    /// </summary>
    [PythonFact("dipy")]
    public void DipyPreset_ReproducesDipy()
    {
        var grid = Grid.Create2D(72, 64, 1.25, 1.25);
        var st = SynTestData.Phantom(grid, 31);
        var e = Bumps.Random(37, grid, 3, 3.5, 11);
        var mv = SynTestData.WarpedCopy(st, grid, e, Matrix4.Identity);
        string dir = Path.Combine(Path.GetTempPath(), "regps-dipy-syn-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            Write(Path.Combine(dir, "static.raw"), st.Voxels);
            Write(Path.Combine(dir, "moving.raw"), mv.Voxels);
            File.WriteAllText(Path.Combine(dir, "meta.json"), string.Create(CultureInfo.InvariantCulture,
                $"{{\"shape\": [{grid.NX}, {grid.NY}], \"spacing\": [1.25, 1.25]}}"));
            var json = JsonDocument.Parse(Python.Run("dipy_syn.py", dir).Trim().Split('\n').Last()).RootElement;
            var raw = File.ReadAllBytes(Path.Combine(dir, "dipy_forward.raw"));
            var dipyField = new float[raw.Length / 4];
            Buffer.BlockCopy(raw, 0, dipyField, 0, raw.Length);

            var map = SynRegistration.Register(st, mv, null, SynOptions.Dipy);
            var ours = map.Forward.Values;
            Assert.Equal(dipyField.Length, ours.Length);
            double sum = 0, max = 0;
            for (int i = 0; i < ours.Length; i += 2)
            {
                double dx = ours[i] - dipyField[i], dy = ours[i + 1] - dipyField[i + 1];
                double d = Math.Sqrt(dx * dx + dy * dy) / 1.25;
                sum += d; max = Math.Max(max, d);
            }
            double mean = sum / (ours.Length / 2);
            var dipyMap = new DiffeomorphicMap(Matrix4.Identity, grid, grid, new DisplacementField(grid, dipyField), new DisplacementField(grid, dipyField.ToArray()));
            double errDipy = SynTestData.MedianResidualVoxels(dipyMap, st, e);
            int dipyIterations = json.GetProperty("energies").GetInt32();
            double err = SynTestData.MedianResidualVoxels(map, st, e);
            output.WriteLine($"DIPY {dipyIterations} iterations, RegPS -Preset Dipy {string.Join("+", map.IterationsPerLevel)}; field difference mean {mean:0.0000} px, max {max:0.000} px; median error against the known warp: RegPS {err:0.0000} px, DIPY {errDipy:0.0000} px");
            Assert.InRange(map.IterationsPerLevel.Sum(), dipyIterations - 3, dipyIterations + 3);
            // Not bit for bit: float rounding in a different order moves the two by a few hundredths of a pixel over
            // 42 iterations, a quarter of what separates either from the known warp.
            Assert.True(mean < 0.03, $"forward fields differ by {mean:0.0000} pixels on average");
            Assert.True(max < 0.4, $"forward fields differ by up to {max:0.000} pixels");
            Assert.True(Math.Abs(err - errDipy) < 0.01, $"median errors against the known warp: RegPS {err:0.0000} px, DIPY {errDipy:0.0000} px");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    private static void Write(string path, ReadOnlySpan<float> values)
    {
        var bytes = new byte[values.Length * 4];
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(values).CopyTo(bytes);
        File.WriteAllBytes(path, bytes);
    }
}
