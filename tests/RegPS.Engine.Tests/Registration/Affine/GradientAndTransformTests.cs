using RegPS.Engine.Images;
using RegPS.Engine.Metrics;
using RegPS.Engine.Registration;
using RegPS.Engine.Registration.Affine;
using RegPS.Engine.Transforms;
using Xunit.Abstractions;

namespace RegPS.Engine.Tests.Registration.Affine;

public class GradientAndTransformTests
{
    private readonly ITestOutputHelper _out;
    public GradientAndTransformTests(ITestOutputHelper output) => _out = output;

    public static IEnumerable<object[]> AllModels() =>
        from t in Enum.GetValues<TransformType>() from d in new[] { 2, 3 } select new object[] { t, d };

    /// <summary>A parameter vector away from the identity (so rotation derivatives are not at 0).</summary>
    private static double[] Perturbed(TransformModel m, int seed)
    {
        var p = m.Identity();
        var rng = new Random(seed);
        for (int i = 0; i < p.Length; i++) p[i] += (rng.NextDouble() - 0.5) * (i >= p.Length - m.Dimension ? 6 : 0.2);
        return p;
    }

    [Theory]
    [MemberData(nameof(AllModels))]
    public void TransformJacobian_MatchesFiniteDifferences(TransformType type, int dim)
    {
        var model = new TransformModel(type, dim);
        var p = Perturbed(model, 3);
        double[] c = { 10, -20, 5 }, x = { 40, 17, -33 };
        var jac = model.Jacobian(p, x, c);
        const double h = 1e-6;
        for (int k = 0; k < model.Count; k++)
        {
            var pp = (double[])p.Clone(); pp[k] += h;
            var pm = (double[])p.Clone(); pm[k] -= h;
            var yp = model.Matrix(pp, c).Apply(x[0], x[1], x[2]);
            var ym = model.Matrix(pm, c).Apply(x[0], x[1], x[2]);
            double[] fd = { (yp.X - ym.X) / (2 * h), (yp.Y - ym.Y) / (2 * h), (yp.Z - ym.Z) / (2 * h) };
            for (int i = 0; i < 3; i++)
                Assert.True(Math.Abs(fd[i] - jac[i * model.Count + k]) < 1e-6 * Math.Max(1, Math.Abs(fd[i])),
                    $"{type}{dim}D dy{i}/dp{k}: analytic {jac[i * model.Count + k]}, finite difference {fd[i]}");
        }
        // The centre is a fixed point of the linear part, and 2D transforms keep z.
        var id = model.Matrix(model.Identity(), c);
        Assert.True(id.MaxAbsDifference(Matrix4.Identity) < 1e-15);
        if (dim == 2)
        {
            var m = model.Matrix(p, c);
            Assert.Equal(new[] { 0.0, 0, 1, 0 }, new[] { m[2, 0], m[2, 1], m[2, 2], m[2, 3] });
        }
    }

    [Theory]
    [InlineData(2, TransformType.Affine, false)]
    [InlineData(2, TransformType.Rigid, false)]
    [InlineData(3, TransformType.Affine, false)]
    [InlineData(3, TransformType.RigidScaling, false)]
    [InlineData(2, TransformType.Affine, true)]
    [InlineData(3, TransformType.Affine, true)]
    public void MutualInformationGradient_MatchesFiniteDifferences(int dim, TransformType type, bool randomCubic)
    {
        Grid sg, mg;
        double[] centre;
        if (dim == 2)
        {
            sg = Grid.Create2D(96, 96);
            mg = new Grid(80, 100, 1, new Matrix4(new double[] { 1.2, 0, 0, -3, 0, 1, 0, 2, 0, 0, 1, 0, 0, 0, 0, 1 }), 2);
            centre = new[] { 47.5, 47.5, 0 };
        }
        else
        {
            sg = Grid.Create3D(32, 32, 32, 2, 2, 2);
            mg = new Grid(40, 30, 28, new Matrix4(new double[] { 1.6, 0, 0, -2, 0, 2, 0, 1, 0, 0, 2.4, -3, 0, 0, 0, 1 }), 3);
            centre = new[] { 31.0, 31, 31 };
        }
        var ph = new Phantom(5, centre, new[] { 0.7 * centre[0], 0.75 * centre[1], dim == 2 ? 30 : 0.7 * centre[2] });
        var st = ph.Sample(sg, Matrix4.Identity);
        var lin = Phantom.Mul(Phantom.RotZ(4), new[] { 1.03, 0.02, 0, 0, 0.98, 0, 0, 0, 1 });
        var mv = ph.Sample(mg, Phantom.Centred(lin, new[] { 2.0, -1.5, dim == 2 ? 0 : 1 }, centre));
        // DIPY's dense level, or the default's level: off-grid random points, cubic B-splines, decimated pyramid (factor 2).
        var level = randomCubic
            ? AffinePyramid.BuildDecimated(sg, AffinePyramid.Normalise(st.Buffer, sg.VoxelCount), mg, AffinePyramid.Normalise(mv.Buffer, mg.VoxelCount),
                null, null, 32, 2, 1.0, 20000, 1234, 2, true, 0)
            : AffinePyramid.Build(st, mv, null, null, 32, 1, 1.0, null, 1234, 0);
        var metric = new MattesMutualInformation(32, level.Static, level.Moving, level.MovingGrid, level.MovingMin, level.MovingMax, null, 0,
            movingCoefficients: level.MovingCoefficients);
        var model = new TransformModel(type, dim);
        var start = Matrix4.Translation(0.7, -0.4, dim == 2 ? 0 : 0.3);
        var objective = new AffineObjective(model, metric, start, level.MovingGrid.WorldToGrid, centre);
        var p = Perturbed(model, 9);
        for (int i = 0; i < p.Length - dim; i++) p[i] = model.Identity()[i] + (p[i] - model.Identity()[i]) * 0.1;
        var g = new double[model.Count];
        double mi = objective.Evaluate(p, g);
        Assert.True(mi > 0.3, $"MI {mi}");
        for (int k = 0; k < model.Count; k++)
        {
            // Steps small enough for the (piecewise smooth) trilinear interpolant, large enough for round-off.
            double h = k >= model.Count - dim ? 1e-4 : 1e-6;
            var pp = (double[])p.Clone(); pp[k] += h;
            var pm = (double[])p.Clone(); pm[k] -= h;
            double fd = (objective.Evaluate(pp, Span<double>.Empty) - objective.Evaluate(pm, Span<double>.Empty)) / (2 * h);
            _out.WriteLine($"p{k}: analytic {g[k]:E6} fd {fd:E6}");
            double scale = Math.Max(Math.Abs(fd), 1e-3 * g.Max(Math.Abs));
            Assert.True(Math.Abs(fd - g[k]) < 0.02 * scale, $"dMI/dp{k}: analytic {g[k]}, finite difference {fd}");
        }
    }

    [Fact]
    public void Decomposition_RecomposesAndReadsKnownParts()
    {
        // T * Rz(g) Rx(a) Ry(b) * diag(s) * shear, built independently from the decomposition code.
        var r = Phantom.Mul(Phantom.Mul(Phantom.RotZ(25), Phantom.RotX(-12)), Phantom.RotY(7));
        var sh = new double[] { 1.1, 0, 0, 0, 0.9, 0, 0, 0, 1.3 };
        var u = Phantom.Mul(sh, new[] { 1, 0.05, -0.02, 0, 1, 0.08, 0, 0, 1 });
        var lin = Phantom.Mul(r, u);
        var m = new Matrix4(new[] { lin[0], lin[1], lin[2], 4.0, lin[3], lin[4], lin[5], -7, lin[6], lin[7], lin[8], 2.5, 0, 0, 0, 1 });
        var map = new AffineMap(m, Grid.Create3D(4, 4, 4), Grid.Create3D(4, 4, 4));
        var d = map.Decompose();
        Assert.Equal(new[] { 4.0, -7, 2.5 }, d.Translation);
        AssertClose(new[] { -12.0, 7, 25 }, d.RotationDegrees, 1e-9);
        AssertClose(new[] { 1.1, 0.9, 1.3 }, d.Scales, 1e-12);
        AssertClose(new[] { 0.05, -0.02, 0.08 }, d.Shears, 1e-12);
        Assert.True(d.Recompose().MaxAbsDifference(m) < 1e-12);

        // A reflection and a random matrix recompose too.
        var rng = new Random(1);
        for (int trial = 0; trial < 20; trial++)
        {
            var a = new double[16];
            for (int i = 0; i < 12; i++) a[i] = rng.NextDouble() * 4 - 2;
            a[15] = 1;
            var q = new Matrix4(a);
            if (Math.Abs(q.Determinant3) < 1e-3) continue;
            Assert.True(AffineDecomposition.FromMatrix(q).Recompose().MaxAbsDifference(q) < 1e-10);
        }
        var flip = new Matrix4(new double[] { -1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1 });
        var fd = AffineDecomposition.FromMatrix(flip);
        Assert.True(fd.Scales[2] < 0);
        Assert.True(fd.Recompose().MaxAbsDifference(flip) < 1e-12);
    }

    private static void AssertClose(double[] expected, double[] actual, double tol)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) < tol, $"[{i}] expected {expected[i]}, got {actual[i]}");
    }

    [Fact]
    public void ShrinkFactors_FollowDipyIsotropyRule()
    {
        // 1 x 1 x 2.5 mm: the finest axes shrink by 4 (4 mm); z picks the integer in [1, 4] whose spacing is nearest 4 mm: 2 (5 mm).
        var g = Grid.Create3D(10, 10, 10, 1, 1, 2.5);
        Assert.Equal(new[] { 4, 4, 2 }, AffinePyramid.ShrinkFactors(g, 4));
        Assert.Equal(new[] { 2, 2, 1 }, AffinePyramid.ShrinkFactors(g, 2));
        Assert.Equal(new[] { 1, 1, 1 }, AffinePyramid.ShrinkFactors(g, 1));
    }
}
