using RegPS.Engine.Images;
using RegPS.Engine.Registration;

namespace RegPS.Engine.Tests.Registration.Syn;

public class SynRegistrationTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static Image Disc(int n, double cx, double cy, double r, double wedgeHalfAngleDeg = 0)
    {
        var g = Grid.Create2D(n, n);
        var v = new float[n * n];
        for (int j = 0; j < n; j++)
            for (int i = 0; i < n; i++)
            {
                double dx = i - cx, dy = j - cy, rr = Math.Sqrt(dx * dx + dy * dy);
                double inside = Math.Clamp(r - rr + 0.5, 0, 1);
                if (wedgeHalfAngleDeg > 0)
                {
                    // cut a wedge opening towards +x: a filled "C" (Pac-Man)
                    double ang = Math.Abs(Math.Atan2(dy, dx)) * 180 / Math.PI;
                    inside *= Math.Clamp((ang - wedgeHalfAngleDeg) / 4 + 0.5, 0, 1);
                }
                v[j * n + i] = (float)inside;
            }
        return Image.FromVoxels(g, v);
    }

    [Theory]
    [InlineData(SynPreset.Default)]
    [InlineData(SynPreset.Dipy)]
    public void CircleToC_2D_RecoversTheShapes(SynPreset preset)
    {
        // static = filled disc, moving = the same disc with a 35-degree wedge cut out (a filled C).
        var circle = Disc(64, 31.5, 31.5, 18);
        var c = Disc(64, 31.5, 31.5, 18, 35);
        var map = SynRegistration.Register(circle, c, null, SynOptions.For(preset));
        var warpedC = map.Transform(c);
        var back = map.TransformInverse(circle);
        double diceForward = SynTestData.Dice(warpedC, circle, 0.5f);
        double diceInverse = SynTestData.Dice(back, c, 0.5f);
        double diceBefore = SynTestData.Dice(c, circle, 0.5f);
        output.WriteLine($"{preset}: circle/C: Dice before {diceBefore:0.000}, Transform(C) {diceForward:0.000}, TransformInverse(circle) {diceInverse:0.000}, final CC {map.FinalCorrelation:0.0000}, iterations {string.Join("+", map.IterationsPerLevel)}");
        Assert.True(diceBefore < 0.95, $"the shapes must differ to begin with (Dice {diceBefore:0.000})");
        Assert.True(diceForward > 0.97, $"Transform(C) vs circle Dice {diceForward:0.000}");
        Assert.True(diceInverse > 0.95, $"TransformInverse(circle) vs C Dice {diceInverse:0.000}");
        Assert.True(map.FinalCorrelation > 0.97, $"final CC {map.FinalCorrelation:0.0000}");
        Assert.Equal(0, map.FoldedVoxels);
        Assert.Equal(3, map.IterationsPerLevel.Length);
        Assert.Equal(map.IterationsPerLevel.Sum(), map.EnergyTrace.Count);
    }

    [Theory]
    [InlineData(SynPreset.Default)]
    [InlineData(SynPreset.Dipy)]
    public void KnownWarp_2D_IsRecovered(SynPreset preset)
    {
        var grid = new Grid(96, 88, 1, Matrix4.Translation(-40, 12, 0) * Matrix4.Scaling(1.5, 1.5, 1), 2);
        var st = SynTestData.Phantom(grid, 7);
        var e = Bumps.Random(11, grid, 4, 4 * 1.5, 14 * 1.5);
        var mv = SynTestData.WarpedCopy(st, grid, e, Matrix4.Identity);
        var map = SynRegistration.Register(st, mv, null, SynOptions.For(preset));
        double before = MedianIdentityResidual(st, e);
        double err = SynTestData.MedianResidualVoxels(map, st, e);
        double roundTrip = SynTestData.MeanRoundTripVoxels(map, st);
        output.WriteLine($"{preset}: 2D: identity {before:0.000} vox, median error {err:0.000} vox, round trip {roundTrip:0.0000} vox, CC {map.FinalCorrelation:0.0000}, folds {map.FoldedVoxels}, iterations {string.Join("+", map.IterationsPerLevel)}");
        Assert.True(before > 1.0, $"the known warp must be sizeable (median {before:0.00} voxels)");
        Assert.True(err < 0.5, $"median displacement error {err:0.000} voxels (identity: {before:0.00})");
        Assert.Equal(0, map.FoldedVoxels);
        Assert.True(roundTrip < 0.1, $"forward then backward is {roundTrip:0.000} voxels from identity on average");
        Assert.True(map.FinalCorrelation > 0.99, $"final CC {map.FinalCorrelation:0.0000}");
    }

    [Theory]
    [InlineData(SynPreset.Default)]
    [InlineData(SynPreset.Dipy)]
    public void KnownWarp_3D_IsRecovered(SynPreset preset)
    {
        var grid = new Grid(40, 36, 32, Matrix4.Translation(10, -20, 5) * Matrix4.Scaling(2, 2, 2.5), 3);
        var st = SynTestData.Phantom(grid, 3, 16);
        var e = Bumps.Random(5, grid, 3, 3 * 2, 10 * 2);
        var mv = SynTestData.WarpedCopy(st, grid, e, Matrix4.Identity);
        var map = SynRegistration.Register(st, mv, null, SynOptions.For(preset));
        double before = MedianIdentityResidual(st, e);
        double err = SynTestData.MedianResidualVoxels(map, st, e);
        double roundTrip = SynTestData.MeanRoundTripVoxels(map, st);
        output.WriteLine($"{preset}: 3D: identity {before:0.000} vox, median error {err:0.000} vox, round trip {roundTrip:0.0000} vox, CC {map.FinalCorrelation:0.0000}, folds {map.FoldedVoxels}, iterations {string.Join("+", map.IterationsPerLevel)}");
        Assert.True(before > 0.7, $"the known warp must be sizeable (median {before:0.00} voxels)");
        Assert.True(err < 0.5, $"median displacement error {err:0.000} voxels (identity: {before:0.00})");
        Assert.Equal(0, map.FoldedVoxels);
        Assert.True(roundTrip < 0.1, $"forward then backward is {roundTrip:0.000} voxels from identity on average");
    }

    [Theory]
    [InlineData(SynPreset.Default)]
    [InlineData(SynPreset.Dipy)]
    public void KnownAffinePlusWarp_IsRecoveredWithThePrealign_OnADifferentMovingGrid(SynPreset preset)
    {
        var sGrid = Grid.Create2D(96, 96, 1.2, 1.2);
        var st = SynTestData.Phantom(sGrid, 21);
        // P: static world -> moving world: rotation 8 degrees, scale 1.06, shift (5, -3) mm.
        double a = 8 * Math.PI / 180, s = 1.06;
        var P = new Matrix4(new double[] { s * Math.Cos(a), -s * Math.Sin(a), 0, 5, s * Math.Sin(a), s * Math.Cos(a), 0, -3, 0, 0, 1, 0, 0, 0, 0, 1 });
        var mGrid = new Grid(110, 100, 1, Matrix4.Translation(-8, -6, 0) * Matrix4.Scaling(1.25, 1.3, 1), 2);
        var e = Bumps.Random(13, sGrid, 3, 4 * 1.2, 14 * 1.2);
        var mv = SynTestData.WarpedCopy(st, mGrid, e, P);
        var map = SynRegistration.Register(st, mv, P, SynOptions.For(preset));
        double before = MedianIdentityResidual(st, e);
        double err = SynTestData.MedianResidualVoxels(map, st, e);
        output.WriteLine($"{preset}: prealign: identity {before:0.000} vox, median error {err:0.000} vox, CC {map.FinalCorrelation:0.0000}, folds {map.FoldedVoxels}");
        Assert.True(before > 1.0, $"the known warp must be sizeable (median {before:0.00} voxels)");
        Assert.True(err < 0.5, $"median displacement error {err:0.000} voxels (identity: {before:0.00})");
        Assert.Equal(0, map.FoldedVoxels);
        Assert.Equal(mGrid, map.Codomain);
        Assert.Same(mGrid, map.TransformInverse(st).Grid);
        Assert.True(map.FinalCorrelation > 0.98, $"final CC {map.FinalCorrelation:0.0000}");
    }

    [Theory]
    [InlineData(SynPreset.Default)]
    [InlineData(SynPreset.Dipy)]
    public void Ssd_KnownWarp_2D_IsRecovered(SynPreset preset)
    {
        var grid = Grid.Create2D(80, 80);
        var st = SynTestData.Phantom(grid, 17);
        var e = Bumps.Random(19, grid, 3, 3, 13);
        var mv = SynTestData.WarpedCopy(st, grid, e, Matrix4.Identity);
        var map = SynRegistration.Register(st, mv, null, SynOptions.For(preset) with { Metric = SynMetric.SSD });
        double before = MedianIdentityResidual(st, e);
        double err = SynTestData.MedianResidualVoxels(map, st, e);
        output.WriteLine($"{preset}: SSD: identity {before:0.000} vox, median error {err:0.000} vox, folds {map.FoldedVoxels}");
        Assert.True(before > 0.7, $"the known warp must be sizeable (median {before:0.00} voxels)");
        Assert.True(err < 0.5, $"median displacement error {err:0.000} voxels (identity: {before:0.00})");
        Assert.Equal(0, map.FoldedVoxels);
    }

    [Theory]
    [InlineData(SynPreset.Default)]
    [InlineData(SynPreset.Dipy)]
    public void OneAndTwoThreads_GiveIdenticalFields(SynPreset preset)
    {
        var grid = Grid.Create3D(28, 26, 24, 1.5, 1.5, 2);
        var st = SynTestData.Phantom(grid, 2, 10);
        var mv = SynTestData.WarpedCopy(st, grid, Bumps.Random(4, grid, 2, 3, 12), Matrix4.Identity);
        var o = SynOptions.For(preset) with { LevelIterations = new[] { 10, 10, 5 } };
        var m1 = SynRegistration.Register(st, mv, null, o with { MaxDegreeOfParallelism = 1 });
        var m2 = SynRegistration.Register(st, mv, null, o with { MaxDegreeOfParallelism = 2 });
        Assert.True(m1.Forward.MaxNorm() > 0.5, "the registration must move something");
        Assert.True(m1.Forward.Values.SequenceEqual(m2.Forward.Values), "forward fields differ between 1 and 2 threads");
        Assert.True(m1.Backward.Values.SequenceEqual(m2.Backward.Values), "backward fields differ between 1 and 2 threads");
        Assert.Equal(m1.EnergyTrace, m2.EnergyTrace);
    }

    [Fact]
    public void ProgressCancellationAndArgumentChecks()
    {
        var grid = Grid.Create2D(40, 40);
        var st = SynTestData.Phantom(grid, 1);
        var mv = SynTestData.WarpedCopy(st, grid, Bumps.Random(2, grid, 2, 2, 10), Matrix4.Identity);
        var reports = new List<RegistrationProgress>();
        var progress = new SyncProgress(reports.Add);
        var map = SynRegistration.Register(st, mv, null, new SynOptions { LevelIterations = new[] { 5, 4, 3 } }, progress);
        Assert.Contains(reports, r => r.Message == "Optimizing level 2");
        Assert.Contains(reports, r => r.Message == "Optimizing level 0");
        Assert.All(reports, r => Assert.Equal("syn", r.Stage));
        Assert.Equal(map.EnergyTrace.Count, reports.Count(r => r.Message is null));

        using var cts = new CancellationTokenSource();
        var cancelling = new SyncProgress(r => { if (r.Iteration == 2) cts.Cancel(); });
        Assert.Throws<OperationCanceledException>(() => SynRegistration.Register(st, mv, null, new SynOptions(), cancelling, cts.Token));

        var three = SynTestData.Phantom(Grid.Create3D(12, 12, 12), 1);
        var ex = Assert.Throws<ArgumentException>(() => SynRegistration.Register(st, three, null, new SynOptions()));
        Assert.Contains("2D", ex.Message);
        var slab = SynTestData.Phantom(Grid.Create3D(20, 20, 3), 1);
        ex = Assert.Throws<ArgumentException>(() => SynRegistration.Register(slab, slab, null, new SynOptions()));
        Assert.Contains("2*Radius+1", ex.Message);
        var nan = st.ToArray(); nan[5] = float.NaN;
        ex = Assert.Throws<ArgumentException>(() => SynRegistration.Register(Image.FromVoxels(grid, nan), mv, null, new SynOptions()));
        Assert.Contains("NaN", ex.Message);
    }

    [Fact]
    public void MapRebuiltFromItsPartsTransformsTheSame()
    {
        var grid = Grid.Create2D(48, 48);
        var st = SynTestData.Phantom(grid, 9);
        var mv = SynTestData.WarpedCopy(st, grid, Bumps.Random(8, grid, 2, 3, 10), Matrix4.Identity);
        var map = SynRegistration.Register(st, mv, null, new SynOptions { LevelIterations = new[] { 10, 10, 5 } });
        var copy = new DiffeomorphicMap(map.Prealign, map.Domain, map.Codomain,
            new DisplacementField(map.Domain, map.Forward.Values.ToArray()), new DisplacementField(map.Domain, map.Backward.Values.ToArray()));
        Assert.True(map.Transform(mv).Voxels.SequenceEqual(copy.Transform(mv).Voxels));
        Assert.True(map.TransformInverse(st).Voxels.SequenceEqual(copy.TransformInverse(st).Voxels));
        Assert.Equal(map.Correlation(st, mv), copy.Correlation(st, mv), 12);
        Assert.True(double.IsNaN(copy.FinalCorrelation));
    }

    internal static double MedianIdentityResidual(Image st, Bumps e)
    {
        var g = st.Grid;
        float max = st.Range().Max;
        var r = new List<double>();
        for (int k = 0; k < g.NZ; k++)
            for (int j = 0; j < g.NY; j++)
                for (int i = 0; i < g.NX; i++)
                {
                    if (st[i, j, k] <= 0.1 * max) continue;
                    var y = g.ToWorld(i, j, k);
                    var d = e.At(y.X, y.Y, y.Z);
                    var v = g.WorldToGrid.ApplyLinear(d.X, d.Y, d.Z);
                    r.Add(Math.Sqrt(v.X * v.X + v.Y * v.Y + v.Z * v.Z));
                }
        r.Sort();
        return r[r.Count / 2];
    }

    /// <summary>Progress that reports on the calling thread (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SyncProgress(Action<RegistrationProgress> action) : IProgress<RegistrationProgress>
    {
        public void Report(RegistrationProgress value) => action(value);
    }
}
