using RegPS.Engine.Images;
using RegPS.Engine.Registration;
using Xunit.Abstractions;

namespace RegPS.Engine.Tests.Registration.Affine;

public class Affine3DTests
{
    private readonly ITestOutputHelper _out;
    public Affine3DTests(ITestOutputHelper output) => _out = output;

    // Static: 40^3 voxels of 2 mm, origin at the corner. Moving: 1.5 x 2 x 2.5 mm voxels, another shape, shifted origin.
    private static readonly Grid StaticGrid = Grid.Create3D(40, 40, 40, 2, 2, 2);
    private static readonly Grid MovingGrid = new(56, 42, 34,
        new Matrix4(new double[] { 1.5, 0, 0, -4, 0, 2, 0, -3, 0, 0, 2.5, -2, 0, 0, 0, 1 }), 3);
    private static readonly double[] Centre = { 39, 39, 39 };

    private static Matrix4 Truth()
    {
        // 6 deg about x, -4 deg about z, ~10 mm translation, ~5% scale, slight shear.
        var lin = Phantom.Mul(Phantom.Mul(Phantom.RotZ(-4), Phantom.RotX(6)), new[] { 1.05, 0.03, 0, 0, 0.96, 0.02, 0, 0, 1.03 });
        return Phantom.Centred(lin, new[] { 6.0, -7, 5 }, Centre);
    }

    private static Phantom Phantom3() => new(11, Centre, new[] { 30.0, 34, 28 });

    [Fact]
    public void Affine3D_DifferentVoxelSizes_Recovered()
    {
        var ph = Phantom3();
        var truth = Truth();
        var st = ph.Sample(StaticGrid, Matrix4.Identity);
        var mv = ph.Sample(MovingGrid, truth);
        var map = AffineRegistration.Register(st, mv, new AffineOptions());
        double err = Phantom.MeanDisplacementError(StaticGrid, map.Affine, truth);
        _out.WriteLine($"error {err:F4} mm = {err / 2:F4} static voxels, MI {map.Metric:F4}, evals [{string.Join(",", map.IterationsPerLevel)}], {map.Elapsed.TotalMilliseconds:F0} ms");
        Assert.True(err / 2 < 0.2, $"mean displacement error {err} mm");
        Assert.Same(StaticGrid, map.Domain);
        Assert.Same(MovingGrid, map.Codomain);
        Assert.Equal(Centre, map.Center);
        Assert.Equal(1234, map.Seed); // random sampling reports its seed
        Assert.True(map.Metric > 0);
        Assert.Equal(map.IterationsPerLevel.Sum(), map.MetricTrace.Count);
    }

    [Fact]
    public void Affine3D_SparseSampling_RecoveredAndReproducible()
    {
        var ph = Phantom3();
        var truth = Truth();
        var st = ph.Sample(StaticGrid, Matrix4.Identity);
        var mv = ph.Sample(MovingGrid, truth);
        var options = new AffineOptions { SamplingProportion = 0.3, Seed = 42 };
        var a = AffineRegistration.Register(st, mv, options);
        var b = AffineRegistration.Register(st, mv, options);
        double err = Phantom.MeanDisplacementError(StaticGrid, a.Affine, truth);
        _out.WriteLine($"sparse error {err:F4} mm, evals [{string.Join(",", a.IterationsPerLevel)}]");
        Assert.True(err / 2 < 0.2, $"mean displacement error {err} mm");
        Assert.Equal(42, a.Seed);
        Assert.Equal(a.Affine.ToArray(), b.Affine.ToArray());
        var c = AffineRegistration.Register(st, mv, options with { Seed = 43 });
        Assert.NotEqual(a.Affine.ToArray(), c.Affine.ToArray());
    }

    [Fact]
    public void Threads1And2_GiveBitIdenticalMatrices()
    {
        var ph = Phantom3();
        var st = ph.Sample(StaticGrid, Matrix4.Identity);
        var mv = ph.Sample(MovingGrid, Truth());
        var o = new AffineOptions { LevelIterations = new[] { 30, 30, 20, 10 } };
        var one = AffineRegistration.Register(st, mv, o with { MaxDegreeOfParallelism = 1 });
        var two = AffineRegistration.Register(st, mv, o with { MaxDegreeOfParallelism = 2 });
        Assert.Equal(one.Affine.ToArray(), two.Affine.ToArray());
        Assert.Equal(one.MetricTrace, two.MetricTrace);
        var sparse = AffineOptions.Dipy with { LevelIterations = new[] { 30, 20, 10 }, SamplingProportion = 0.5, Stages = new[] { TransformType.Affine } };
        var s1 = AffineRegistration.Register(st, mv, sparse with { MaxDegreeOfParallelism = 1 });
        var s2 = AffineRegistration.Register(st, mv, sparse with { MaxDegreeOfParallelism = 2 });
        Assert.Equal(s1.Affine.ToArray(), s2.Affine.ToArray());
    }

    [Fact]
    public void Cancellation_ThrowsOperationCanceled()
    {
        var ph = Phantom3();
        var st = ph.Sample(StaticGrid, Matrix4.Identity);
        var mv = ph.Sample(MovingGrid, Truth());
        using var cts = new CancellationTokenSource();
        int reports = 0;
        var progress = new SyncProgress(p =>
        {
            if (p.Iteration > 0 && ++reports == 5) cts.Cancel();
        });
        Assert.ThrowsAny<OperationCanceledException>(() => AffineRegistration.Register(st, mv, new AffineOptions(), progress, cts.Token));
        Assert.Equal(5, reports);
    }

    [Fact]
    public void Progress_ReportsDipyLevelMessages()
    {
        var ph = Phantom3();
        var st = ph.Sample(StaticGrid, Matrix4.Identity);
        var mv = ph.Sample(MovingGrid, Truth());
        var messages = new List<string>();
        var progress = new SyncProgress(p => { if (p.Message is { } m) messages.Add(m); });
        AffineRegistration.Register(st, mv, AffineOptions.Dipy with { Stages = new[] { TransformType.Translation }, LevelIterations = new[] { 5, 5, 5 } }, progress);
        Assert.Equal(new[] { "translation: Optimizing level 2 [max iter: 5]", "translation: Optimizing level 1 [max iter: 5]", "translation: Optimizing level 0 [max iter: 5]" }, messages);
    }

    [Fact]
    public void TransformAndInverse_ResampleOntoTheOtherGrid()
    {
        var ph = Phantom3();
        var truth = Truth();
        var st = ph.Sample(StaticGrid, Matrix4.Identity);
        var mv = ph.Sample(MovingGrid, truth);
        var map = new AffineMap(truth, StaticGrid, MovingGrid);
        var wrong = new AffineMap(Matrix4.Identity, StaticGrid, MovingGrid);
        Assert.Same(StaticGrid, map.Transform(mv).Grid);
        Assert.Same(MovingGrid, map.TransformInverse(st).Grid);
        // With the true map the warped moving image matches the static one inside the field of view up to linear
        // interpolation error, and far better than without the map.
        double fwd = MeanAbs(map.Transform(mv), st, 8, 32, 8, 32, 8, 32), fwdWrong = MeanAbs(wrong.Transform(mv), st, 8, 32, 8, 32, 8, 32);
        double inv = MeanAbs(map.TransformInverse(st), mv, 10, 46, 10, 32, 10, 24), invWrong = MeanAbs(wrong.TransformInverse(st), mv, 10, 46, 10, 32, 10, 24);
        _out.WriteLine($"forward {fwd:F4} (identity {fwdWrong:F4}), inverse {inv:F4} (identity {invWrong:F4})");
        Assert.True(fwd < 0.04 && fwd < fwdWrong / 5, $"forward {fwd} vs identity {fwdWrong}");
        Assert.True(inv < 0.04 && inv < invWrong / 5, $"inverse {inv} vs identity {invWrong}");
    }

    private static double MeanAbs(Image a, Image b, int i0, int i1, int j0, int j1, int k0, int k1)
    {
        double diff = 0; int n = 0;
        for (int k = k0; k < k1; k++) for (int j = j0; j < j1; j++) for (int i = i0; i < i1; i++) { diff += Math.Abs(a[i, j, k] - b[i, j, k]); n++; }
        return diff / n;
    }

    /// <summary>Progress that runs the callback synchronously on the reporting thread.</summary>
    private sealed class SyncProgress : IProgress<RegistrationProgress>
    {
        private readonly Action<RegistrationProgress> _a;
        public SyncProgress(Action<RegistrationProgress> a) => _a = a;
        public void Report(RegistrationProgress value) => _a(value);
    }
}
