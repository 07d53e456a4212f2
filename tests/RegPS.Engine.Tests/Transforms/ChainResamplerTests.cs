using RegPS.Engine.Images;
using RegPS.Engine.Registration;
using RegPS.Engine.Resampling;
using RegPS.Engine.Transforms;

namespace RegPS.Engine.Tests.Transforms;

public class ChainResamplerTests
{
    // An oblique 2 mm grid and a smooth image on it whose value at world point p is Smooth(p).
    private static readonly Grid G = new(36, 32, 28, new Matrix4(new double[] { 2, 0.1, 0, -36, 0, 1.9, 0.2, -30, 0.05, 0, 2.1, -28, 0, 0, 0, 1 }));

    private static double Smooth(double x, double y, double z) =>
        100 + 40 * Math.Sin(x / 9.0) * Math.Cos(y / 11.0) + 25 * Math.Sin(z / 7.0 + x / 23.0);

    private static Image SmoothImage(Grid g, Func<double, double, double, double> f)
    {
        var v = new float[g.VoxelCount];
        for (int k = 0; k < g.NZ; k++)
            for (int j = 0; j < g.NY; j++)
                for (int i = 0; i < g.NX; i++)
                {
                    var (x, y, z) = g.ToWorld(i, j, k);
                    v[g.Index(i, j, k)] = (float)f(x, y, z);
                }
        return new Image(g, v);
    }

    private static Matrix4 Rotation(double angle, double tx, double ty, double tz)
    {
        double c = Math.Cos(angle), s = Math.Sin(angle);
        return new Matrix4(new double[] { c, -s, 0, tx, s, c, 0, ty, 0, 0, 1, tz, 0, 0, 0, 1 });
    }

    private static DisplacementField Field(Grid g)
    {
        var v = new float[g.VoxelCount * 3];
        for (int k = 0; k < g.NZ; k++)
            for (int j = 0; j < g.NY; j++)
                for (int i = 0; i < g.NX; i++)
                {
                    int o = g.Index(i, j, k) * 3;
                    v[o] = (float)(1.6 * Math.Sin(j / 5.0));
                    v[o + 1] = (float)(-1.2 * Math.Cos(i / 6.0));
                    v[o + 2] = (float)(0.8 * Math.Sin((i + k) / 7.0));
                }
        return new DisplacementField(g, v);
    }

    private static bool Interior(Grid g, int i, int j, int k, int margin) =>
        i >= margin && j >= margin && k >= margin && i < g.NX - margin && j < g.NY - margin && k < g.NZ - margin;

    [Fact]
    public void AChainInOneCallEqualsItsPartsAppliedInTurn()
    {
        var image = SmoothImage(G, Smooth);
        var a1 = new AffineStep(Rotation(0.08, 2.5, -1.5, 1));
        var warp = new DisplacementFieldStep(Field(G));
        var a2 = new AffineStep(Rotation(-0.05, -1, 2, -0.5));
        // ITK composite order: the image goes through a1, then warp, then a2 (points: a2 first).
        var once = ChainResampler.Apply(image, G, new TransformChain(new TransformStep[] { a1, warp, a2 }), Interpolation.BSpline);
        var step1 = ChainResampler.Apply(image, G, new TransformChain(new[] { a1 }), Interpolation.BSpline);
        var step2 = ChainResampler.Apply(step1, G, new TransformChain(new[] { warp }), Interpolation.BSpline);
        var inTurn = ChainResampler.Apply(step2, G, new TransformChain(new[] { a2 }), Interpolation.BSpline);
        var wrongOrder = ChainResampler.Apply(image, G, new TransformChain(new TransformStep[] { a2, warp, a1 }), Interpolation.BSpline);
        double same = 0, wrong = 0;
        int n = 0;
        for (int k = 0; k < G.NZ; k++)
            for (int j = 0; j < G.NY; j++)
                for (int i = 0; i < G.NX; i++)
                {
                    if (!Interior(G, i, j, k, 6)) continue;
                    int v = G.Index(i, j, k);
                    same = Math.Max(same, Math.Abs(once.Voxels[v] - inTurn.Voxels[v]));
                    wrong = Math.Max(wrong, Math.Abs(once.Voxels[v] - wrongOrder.Voxels[v]));
                    n++;
                }
        Assert.True(n > 1000);
        Assert.True(same < 0.5, $"one call vs in turn: max difference {same} (values span about 130)");
        Assert.True(wrong > 10 * same, $"the order must matter: reversed order differs by {wrong}, in turn by {same}");
    }

    [Fact]
    public void AnInvertedStepUndoesIt()
    {
        var image = SmoothImage(G, Smooth);
        var a = new AffineStep(Rotation(0.1, 3, -2, 1));
        var back = ChainResampler.Apply(image, G, new TransformChain(new TransformStep[] { a, a.Inverse() }), Interpolation.Linear);
        // A step and its inverse compose to the identity: one interpolation at the voxel centres returns the image.
        for (int v = 0; v < G.VoxelCount; v++) Assert.True(Math.Abs(image.Voxels[v] - back.Voxels[v]) < 1e-3);
        var chain = new TransformChain(new TransformStep[] { a, new DisplacementFieldStep(Field(G)) });
        Assert.Throws<InvalidOperationException>(() => chain.Inverse());
    }

    [Fact]
    public void CubicAndLanczosReproduceASmoothFunctionBetterThanLinear()
    {
        // The same smooth function sampled on a 2 mm grid, pulled through a rotation: the exact answer at every
        // output voxel is the function at the mapped point.
        var image = SmoothImage(G, Smooth);
        var m = Rotation(0.13, 1.37, -2.71, 0.59);
        var chain = new TransformChain(new[] { new AffineStep(m) });
        double Rms(Interpolation mode)
        {
            var r = ChainResampler.Apply(image, G, chain, mode);
            double sum = 0; int n = 0;
            for (int k = 0; k < G.NZ; k++)
                for (int j = 0; j < G.NY; j++)
                    for (int i = 0; i < G.NX; i++)
                    {
                        if (!Interior(G, i, j, k, 6)) continue;
                        var (x, y, z) = m.Apply(G.ToWorld(i, j, k).X, G.ToWorld(i, j, k).Y, G.ToWorld(i, j, k).Z);
                        double e = r.Voxels[G.Index(i, j, k)] - Smooth(x, y, z);
                        sum += e * e; n++;
                    }
            return Math.Sqrt(sum / n);
        }
        double linear = Rms(Interpolation.Linear), cubic = Rms(Interpolation.BSpline), lanczos = Rms(Interpolation.Lanczos);
        Assert.True(cubic < linear / 3, $"cubic RMS {cubic} vs linear {linear}");
        Assert.True(lanczos < linear / 2, $"Lanczos RMS {lanczos} vs linear {linear}");
    }

    [Fact]
    public void GenericLabelKeepsLabels()
    {
        // Nested boxes with labels 0, 3, 7 and 12: linear blends them into values that are no label; GenericLabel
        // returns only the input's labels and agrees with nearest neighbour almost everywhere.
        var v = new float[G.VoxelCount];
        for (int k = 0; k < G.NZ; k++)
            for (int j = 0; j < G.NY; j++)
                for (int i = 0; i < G.NX; i++)
                    v[G.Index(i, j, k)] = i is > 8 and < 26 && j is > 6 and < 24 ? (k < 12 ? 3 : k < 20 ? 7 : 12) : 0;
        var labels = new Image(G, v);
        var chain = new TransformChain(new[] { new AffineStep(Rotation(0.21, 1.3, -0.7, 0.4)) });
        var generic = ChainResampler.Apply(labels, G, chain, Interpolation.GenericLabel);
        var nearest = ChainResampler.Apply(labels, G, chain, Interpolation.Nearest);
        var linear = ChainResampler.Apply(labels, G, chain, Interpolation.Linear);
        var allowed = new HashSet<float> { 0, 3, 7, 12 };
        Assert.All(generic.ToArray(), x => Assert.Contains(x, allowed));
        Assert.Contains(linear.ToArray(), x => !allowed.Contains(x));
        int agree = generic.ToArray().Zip(nearest.ToArray()).Count(p => p.First == p.Second);
        Assert.True(agree > 0.95 * G.VoxelCount, $"GenericLabel agrees with nearest on {agree} of {G.VoxelCount}");
        foreach (var l in new[] { 3f, 7f, 12f }) Assert.Contains(l, generic.ToArray());
    }

    [Fact]
    public void TheReferenceGridAndDefaultValueAreHonoured()
    {
        var image = SmoothImage(G, Smooth);
        // A finer grid shifted so that part of it lies outside the image.
        var reference = new Grid(30, 30, 20, new Matrix4(new double[] { 1.5, 0, 0, 0, 0, 1.5, 0, 0, 0, 0, 1.5, 0, 0, 0, 0, 1 }));
        var r = ChainResampler.Apply(image, reference, new TransformChain(Array.Empty<TransformStep>()), Interpolation.Linear, defaultValue: -7f);
        Assert.Same(reference, r.Grid);
        int outside = 0, inside = 0;
        for (int k = 0; k < reference.NZ; k++)
            for (int j = 0; j < reference.NY; j++)
                for (int i = 0; i < reference.NX; i++)
                {
                    var (x, y, z) = reference.ToWorld(i, j, k);
                    var (a, b, c) = G.ToIndex(x, y, z);
                    float got = r.Voxels[reference.Index(i, j, k)];
                    if (a < -0.5 || b < -0.5 || c < -0.5 || a >= G.NX - 0.5 || b >= G.NY - 0.5 || c >= G.NZ - 0.5) { Assert.Equal(-7f, got); outside++; }
                    else if (a > 1 && b > 1 && c > 1 && a < G.NX - 2 && b < G.NY - 2 && c < G.NZ - 2)
                    {
                        Assert.True(Math.Abs(got - Smooth(x, y, z)) < 1.0, $"{got} vs {Smooth(x, y, z)}");
                        inside++;
                    }
                }
        Assert.True(outside > 100 && inside > 100, $"{outside} outside, {inside} inside");
    }

    [Fact]
    public void FourDimensionalImagesAreResampledVolumeByVolume()
    {
        var a = SmoothImage(G, Smooth);
        var b = SmoothImage(G, (x, y, z) => 3 * Smooth(y, z, x) - 50);
        var both = new float[2 * G.VoxelCount];
        a.Voxels.CopyTo(both);
        b.Voxels.CopyTo(both.AsSpan(G.VoxelCount));
        var series = new Image(G, both, 2);
        var chain = new TransformChain(new TransformStep[] { new AffineStep(Rotation(0.1, 1, 2, 3)), new DisplacementFieldStep(Field(G)) });
        var r = ChainResampler.Apply(series, G, chain, Interpolation.Lanczos);
        Assert.Equal(2, r.Volumes);
        Assert.Equal(ChainResampler.Apply(a, G, chain, Interpolation.Lanczos).ToArray(), r.Volume(0).ToArray());
        Assert.Equal(ChainResampler.Apply(b, G, chain, Interpolation.Lanczos).ToArray(), r.Volume(1).ToArray());
    }

    [Fact]
    public void ADiffeomorphicMapAsAChainWarpsLikeTheMapAwayFromTheBorders()
    {
        // RegPS's map y -> P(y + f(y)) is the chain [P, f]; its inverse [g, P^-1] with g the backward field.
        var f = Field(G);
        var p = Rotation(0.05, 1, -1, 0.5);
        var map = new DiffeomorphicMap(p, G, G, f, f);
        var image = SmoothImage(G, Smooth);
        var expected = map.Transform(image);
        var got = ChainResampler.Apply(image, G, TransformChain.FromMap(map));
        for (int k = 0; k < G.NZ; k++)
            for (int j = 0; j < G.NY; j++)
                for (int i = 0; i < G.NX; i++)
                    if (Interior(G, i, j, k, 4))
                        Assert.True(Math.Abs(expected.Voxels[G.Index(i, j, k)] - got.Voxels[G.Index(i, j, k)]) < 1e-3,
                            $"({i},{j},{k}): map {expected.Voxels[G.Index(i, j, k)]}, chain {got.Voxels[G.Index(i, j, k)]}");
    }

    [Fact]
    public void TheInverseChainOfADiffeomorphicMapWarpsLikeTransformInverse()
    {
        // [g, P^-1]: a moving point z goes to z' + g(z') with z' = P^-1 z, as DiffeomorphicMap.TransformInverse.
        var f = Field(G);
        var g = new DisplacementField(G, f.Values.ToArray().Select(x => -0.9f * x).ToArray());
        var map = new DiffeomorphicMap(Rotation(0.05, 1, -1, 0.5), G, G, f, g);
        var image = SmoothImage(G, Smooth);
        var expected = map.TransformInverse(image);
        var chain = TransformChain.FromMap(map).Inverse();
        Assert.Same(g, Assert.IsType<DisplacementFieldStep>(chain.Steps[0]).Field);
        var got = ChainResampler.Apply(image, G, chain);
        for (int k = 0; k < G.NZ; k++)
            for (int j = 0; j < G.NY; j++)
                for (int i = 0; i < G.NX; i++)
                    if (Interior(G, i, j, k, 4))
                        Assert.True(Math.Abs(expected.Voxels[G.Index(i, j, k)] - got.Voxels[G.Index(i, j, k)]) < 1e-3);
    }
}
