using RegPS.Engine.Resampling;
using RegPS.Engine.Fields;
using RegPS.Engine.Images;
using RegPS.Engine.Metrics;
using RegPS.Engine.Registration;
using RegPS.Engine.Simd;

namespace RegPS.Engine.Tests.Fields;

public class FieldKernelTests
{
    private static float[] Constant(Grid g, double x, double y, double z)
    {
        var f = new float[3 * g.VoxelCount];
        for (int v = 0; v < g.VoxelCount; v++) { f[3 * v] = (float)x; f[3 * v + 1] = (float)y; f[3 * v + 2] = (float)z; }
        return f;
    }

    private static float[] FromFunction(Grid g, Func<double, double, double, (double, double, double)> fn)
    {
        var f = new float[3 * g.VoxelCount];
        for (int k = 0; k < g.NZ; k++)
            for (int j = 0; j < g.NY; j++)
                for (int i = 0; i < g.NX; i++)
                {
                    var w = g.ToWorld(i, j, k);
                    var (a, b, c) = fn(w.X, w.Y, w.Z);
                    int o = 3 * g.Index(i, j, k);
                    f[o] = (float)a; f[o + 1] = (float)b; f[o + 2] = (float)c;
                }
        return f;
    }

    [Fact]
    public void ComposingConstantShiftsAddsThemAndIsZeroOffDomain()
    {
        var g = Grid.Create3D(12, 10, 8, 2, 2, 3);
        var fg = new FieldGrid(g);
        var d1 = Constant(g, 3, -2, 1.5);  // (1.5, -1, 0.5) voxels
        var d2 = Constant(g, -1, 0.5, 0.25);
        var comp = new float[d1.Length];
        FieldComposition.Compose(d1, d2, fg, 0.5, comp, null, null, 2);
        for (int k = 0; k < g.NZ; k++)
            for (int j = 0; j < g.NY; j++)
                for (int i = 0; i < g.NX; i++)
                {
                    int o = 3 * g.Index(i, j, k);
                    bool inside = i + 1.5 <= g.NX - 1 && j - 1 >= 0 && k + 0.5 <= g.NZ - 1;
                    Assert.Equal(inside ? 3 - 0.5 : 0, comp[o], 5);
                    Assert.Equal(inside ? -2 + 0.25 : 0, comp[o + 1], 5);
                    Assert.Equal(inside ? 1.5 + 0.125 : 0, comp[o + 2], 5);
                }
    }

    [Fact]
    public void InverseOfAConstantShiftIsTheNegativeShift()
    {
        var g = Grid.Create2D(32, 30, 2, 2);
        var fg = new FieldGrid(g);
        var d = Constant(g, 2.6, -1.4, 0); // (1.3, -0.7) voxels
        // With ITK's max-residual stop (0.1 voxel) the inverse is -d within 0.1 voxel (0.2 mm) away from the faces,
        // and with DIPY's mean-residual stop alone (1e-3 voxel) within 0.01 voxel.
        foreach (var (maxTol, tolMm) in new[] { (0.1, 0.2), (0.0, 0.02) })
        {
            var p = new float[d.Length]; var q = new float[d.Length];
            var rows = new double[g.NY]; var rows2 = new double[g.NY];
            var (iters, _, _) = FieldInversion.Invert(d, fg, 20, 1e-3, maxTol, p, q, rows, rows2, 1);
            Assert.InRange(iters, 1, 20);
            for (int j = 4; j < g.NY - 4; j++)
                for (int i = 4; i < g.NX - 4; i++)
                {
                    int o = 3 * g.Index(i, j, 0);
                    Assert.InRange(p[o], -2.6 - tolMm, -2.6 + tolMm);
                    Assert.InRange(p[o + 1], 1.4 - tolMm, 1.4 + tolMm);
                }
        }
    }

    [Fact]
    public void InverseOfASmoothFieldComposesToIdentity()
    {
        // d = one Gaussian bump of 3 voxels; check p(x) + d_analytic(x + p(x)) ~ 0 with d evaluated by its formula.
        var g = Grid.Create3D(26, 24, 22, 1.5, 1.5, 1.5);
        var fg = new FieldGrid(g);
        var c = g.ToWorld(13, 12, 11);
        (double, double, double) D(double x, double y, double z)
        {
            double w = Math.Exp(-((x - c.X) * (x - c.X) + (y - c.Y) * (y - c.Y) + (z - c.Z) * (z - c.Z)) / (2 * 7.0 * 7.0));
            return (4.5 * w, -2.0 * w, 1.5 * w);
        }
        var d = FromFunction(g, D);
        var p = new float[d.Length]; var q = new float[d.Length];
        var rs = new double[g.NY * g.NZ]; var rm = new double[g.NY * g.NZ];
        FieldInversion.Invert(d, fg, 20, 1e-3, 0.1, p, q, rs, rm, 2);
        double sum = 0, max = 0; int n = 0;
        for (int k = 3; k < g.NZ - 3; k++)
            for (int j = 3; j < g.NY - 3; j++)
                for (int i = 3; i < g.NX - 3; i++)
                {
                    int o = 3 * g.Index(i, j, k);
                    var x = g.ToWorld(i, j, k);
                    var (a, b, e) = D(x.X + p[o], x.Y + p[o + 1], x.Z + p[o + 2]);
                    double r = Math.Sqrt(Math.Pow(p[o] + a, 2) + Math.Pow(p[o + 1] + b, 2) + Math.Pow(p[o + 2] + e, 2)) / 1.5;
                    sum += r; max = Math.Max(max, r); n++;
                }
        Assert.True(sum / n < 0.03, $"mean residual {sum / n:0.0000} voxels");
        // the inversion stops once its own (interpolated) residual is at most 0.1 voxel everywhere; against the
        // analytic field the trilinear interpolation of the bump adds a little on top
        Assert.True(max < 0.2, $"max residual {max:0.0000} voxels");
        // and the bump really is large: 3 voxels at the centre
        Assert.True(Math.Abs(p[3 * g.Index(13, 12, 11)]) > 3.5);
    }

    [Fact]
    public void WarpingARampByAConstantShiftSamplesTheShiftedRamp()
    {
        var g = new Grid(20, 18, 16, Matrix4.Translation(5, -3, 2) * Matrix4.Scaling(2, 1.5, 2.5), 3);
        var fg = new FieldGrid(g);
        var img = new float[g.VoxelCount];
        for (int k = 0; k < g.NZ; k++) for (int j = 0; j < g.NY; j++) for (int i = 0; i < g.NX; i++) img[g.Index(i, j, k)] = i + 2 * j + 3 * k;
        var d = Constant(g, 1.0, -0.75, 1.25); // (0.5, -0.5, 0.5) voxels
        var P = Matrix4.Translation(2, 0, 0);   // + 1 voxel in i
        var dst = new float[g.VoxelCount];
        FieldWarp.Warp(img, g, P, d, fg, dst, 2);
        for (int k = 1; k < g.NZ - 2; k++)
            for (int j = 1; j < g.NY - 2; j++)
                for (int i = 1; i < g.NX - 2; i++)
                    Assert.Equal((i + 1.5) + 2 * (j - 0.5) + 3 * (k + 0.5), dst[g.Index(i, j, k)], 3);
    }

    /// <summary>
    /// The cubic warp against the truth: a smooth analytic image (a sum of sines whose period is a few voxels, as a T1's
    /// texture) pulled through a constant field of fractions of a voxel, on a grid with a prealign. Inside, the cubic
    /// B-spline lands several times closer to the image's true values than the trilinear warp, agrees with the
    /// resampler's independent cubic B-spline (double arithmetic, its own prefilter) to float rounding, and gives the
    /// same bits at 1 and 2 threads; far outside the image it is 0, as the trilinear warp.
    /// </summary>
    [Theory]
    [InlineData(3)]
    [InlineData(2)]
    public void CubicWarpIsCloserToTheTruthThanTrilinearAndMatchesTheResamplersSpline(int dim)
    {
        var g = dim == 3 ? new Grid(26, 22, 18, Matrix4.Translation(5, -3, 2) * Matrix4.Scaling(2, 1.5, 2.5), 3)
            : new Grid(40, 34, 1, Matrix4.Translation(5, -3, 0) * Matrix4.Scaling(2, 1.5, 1), 2);
        var fg = new FieldGrid(g);
        double F(double i, double j, double k) => Math.Sin(0.9 * i + 0.3) * Math.Cos(0.7 * j - 0.2) + (dim == 3 ? 0.5 * Math.Sin(0.8 * k + 0.1) : 0);
        var img = new float[g.VoxelCount];
        for (int k = 0; k < g.NZ; k++) for (int j = 0; j < g.NY; j++) for (int i = 0; i < g.NX; i++) img[g.Index(i, j, k)] = (float)F(i, j, k);
        // (0.3, -0.45, 0.35) voxels, then the prealign + 1 voxel in i
        var d = Constant(g, 0.6, -0.675, dim == 3 ? 0.875 : 0);
        var P = Matrix4.Translation(2, 0, 0);
        var image = CubicImage.Create(img, g, 1);
        var cubic = new float[g.VoxelCount]; var cubic2 = new float[g.VoxelCount]; var linear = new float[g.VoxelCount];
        FieldWarp.WarpCubic(image, P, d, fg, cubic, 1);
        FieldWarp.WarpCubic(image, P, d, fg, cubic2, 2);
        FieldWarp.Warp(img, g, P, d, fg, linear, 2);
        Assert.Equal(cubic, cubic2);
        var sampler = new VolumeSampler(img, 0, g, Interpolation.BSpline, SampleDomain.Scipy, 0);
        double errCubic = 0, errLinear = 0, maxDiff = 0; int n = 0;
        int k0 = dim == 3 ? 2 : 0, k1 = dim == 3 ? g.NZ - 4 : 1;
        for (int k = k0; k < k1; k++)
            for (int j = 3; j < g.NY - 3; j++)
                for (int i = 2; i < g.NX - 4; i++)
                {
                    double x = i + 1.3, y = j - 0.45, z = dim == 3 ? k + 0.35 : 0;
                    double truth = F(x, y, z);
                    int o = g.Index(i, j, k);
                    errCubic += Math.Abs(cubic[o] - truth); errLinear += Math.Abs(linear[o] - truth); n++;
                    maxDiff = Math.Max(maxDiff, Math.Abs(cubic[o] - sampler.Sample(x, y, z)));
                }
        errCubic /= n; errLinear /= n;
        Assert.True(errCubic < 0.25 * errLinear, $"cubic {errCubic:0.00000} vs trilinear {errLinear:0.00000} from the true image");
        Assert.True(maxDiff < 2e-5, $"cubic warp vs the resampler's B-spline: {maxDiff:0.0e0}");
        // a field that sends every point far outside the image: 0, as the zero-padded trilinear warp
        var away = Constant(g, 200, 0, 0);
        FieldWarp.WarpCubic(image, Matrix4.Identity, away, fg, cubic, 1);
        Assert.All(cubic, v => Assert.Equal(0f, v));
    }

    /// <summary>
    /// The cubic warp's 4-voxel groups (points, offsets and weights in lanes) give the voxel-at-a-time path's bits: a
    /// random field of up to 3 voxels on an oblique grid with a prealign, so that groups fall inside, across the faces
    /// and outside, at 1 and 2 threads, on a row length that leaves a tail of 3 voxels.
    /// </summary>
    [Fact]
    public void CubicWarpGroupsGiveTheVoxelAtATimeBits()
    {
        var g = new Grid(23, 19, 15, Matrix4.Translation(5, -3, 2) * Matrix4.FromRows(new[]
        {
            new[] { 1.99, -0.2, 0, 0 }, new[] { 0.15, 1.49, 0, 0 }, new[] { 0, 0, 2.5, 0 }, new double[] { 0, 0, 0, 1 },
        }), 3);
        var fg = new FieldGrid(g);
        var rnd = new Random(11);
        var img = new float[g.VoxelCount];
        for (int q = 0; q < img.Length; q++) img[q] = (float)rnd.NextDouble();
        var d = new float[3 * g.VoxelCount];
        for (int q = 0; q < d.Length; q++) d[q] = (float)(6 * (rnd.NextDouble() - 0.5));
        var image = CubicImage.Create(img, g, 2);
        var P = Matrix4.Translation(1.5, -0.5, 0.25);
        var scalar = new float[g.VoxelCount]; var groups1 = new float[g.VoxelCount]; var groups2 = new float[g.VoxelCount];
        FieldWarp.WarpCubic(image, P, d, fg, scalar, 1, VectorPath.Scalar);
        FieldWarp.WarpCubic(image, P, d, fg, groups1, 1);
        FieldWarp.WarpCubic(image, P, d, fg, groups2, 2);
        Assert.Equal(scalar, groups1);
        Assert.Equal(scalar, groups2);
        // the field reaches both the interior (where groups are used) and the outside (zero)
        Assert.Contains(scalar, v => v == 0f);
        Assert.True(scalar.Count(v => v != 0f) > g.VoxelCount / 2);
    }

    /// <summary>
    /// A bright block in a wide zero background: the prefilter's tails decay by 0.27 per voxel, through float's subnormal
    /// range (below 1.2e-38) on the way to zero. The cubic image stores none of them below 2^-40 of the largest sample
    /// (the tails did reach that far: the raw coefficients hold such values, subnormal ones among them), keeps every
    /// other coefficient, mirrored taps included, and the warp through a zero field still returns every sample.
    /// </summary>
    [Fact]
    public void CubicImageStoresNoCoefficientTailsBelowTheFlushThreshold()
    {
        var g = Grid.Create3D(120, 9, 7);
        int nx = g.NX, ny = g.NY, nz = g.NZ;
        var img = new float[g.VoxelCount];
        for (int k = 2; k < 5; k++) for (int j = 3; j < 6; j++) for (int i = 0; i < 6; i++) img[g.Index(i, j, k)] = 1000f;
        float tau = 1000f * MathF.Pow(2, -40);
        Assert.Equal(tau, CubicImage.FlushThreshold(img, 2));
        var raw = RegPS.Engine.Filters.BSplinePrefilter.Coefficients(img, nx, ny, nz, 1);
        Assert.Contains(raw, v => v != 0 && Math.Abs(v) < 1.17549435e-38f);
        var image = CubicImage.Create(img, g, 2);
        Assert.DoesNotContain(image.Coefficients, v => v != 0 && Math.Abs(v) < tau);
        for (int pk = 0; pk < nz + 3; pk++)
            for (int pj = 0; pj < ny + 3; pj++)
                for (int pi = 0; pi < nx + 3; pi++)
                {
                    float c = raw[(WholeSampleMirror(pk - 1, nz) * ny + WholeSampleMirror(pj - 1, ny)) * nx + WholeSampleMirror(pi - 1, nx)];
                    Assert.Equal(Math.Abs(c) < tau ? 0f : c, image.Coefficients[(pk * (ny + 3) + pj) * (nx + 3) + pi]);
                }
        var back = new float[g.VoxelCount];
        FieldWarp.WarpCubic(image, Matrix4.Identity, new float[3 * g.VoxelCount], new FieldGrid(g), back, 1);
        for (int q = 0; q < img.Length; q++) Assert.True(Math.Abs(back[q] - img[q]) < 1e-2, $"voxel {q}: {back[q]} vs {img[q]}");
        // the bound never goes below float's smallest normal, and an infinite sample does not make it infinite
        Assert.Equal(1.17549435e-38f, CubicImage.FlushThreshold(img.Select(v => v * 1e-30f).ToArray(), 1));
        Assert.Equal(1.17549435e-38f, CubicImage.FlushThreshold(new[] { float.PositiveInfinity, 1f }, 1));
        // d c b | a b c d | c b a: the prefilter's boundary, written out here rather than taken from the code under test
        static int WholeSampleMirror(int i, int n)
        {
            int p = 2 * n - 2;
            i = ((i % p) + p) % p;
            return i < n ? i : p - i;
        }
    }

    /// <summary>
    /// Near the faces the cubic warp reads its mirrored taps from the padded coefficients (<see cref="CubicImage"/>):
    /// it agrees there, and everywhere, with the affine's double cubic sampler, which mirrors each tap index itself, to
    /// float rounding. Points within one voxel of a face are counted, so the rim is really tested.
    /// </summary>
    [Fact]
    public unsafe void CubicWarpNearTheFacesMatchesTheMirroringSampler()
    {
        var g = new Grid(17, 13, 11, Matrix4.Scaling(2, 1.5, 2.5), 3);
        var fg = new FieldGrid(g);
        var rnd = new Random(21);
        var img = new float[g.VoxelCount];
        for (int q = 0; q < img.Length; q++) img[q] = (float)rnd.NextDouble();
        // displacements of up to 0.6 voxel: points in [-0.6, n - 0.4], the rim included
        var d = new float[3 * g.VoxelCount];
        double[] spacing = { 2, 1.5, 2.5 };
        for (int q = 0; q < d.Length; q++) d[q] = (float)(1.2 * (rnd.NextDouble() - 0.5) * spacing[q % 3]);
        var image = CubicImage.Create(img, g, 1);
        var warped = new float[g.VoxelCount];
        FieldWarp.WarpCubic(image, Matrix4.Identity, d, fg, warped, 2);
        var coef = RegPS.Engine.Filters.BSplinePrefilter.Coefficients(img, g.NX, g.NY, g.NZ, 1);
        int rim = 0;
        fixed (float* pc = coef, ps = img)
        {
            var spline = new CubicBSpline3(pc, ps, g.NX, g.NY, g.NZ);
            for (int k = 0; k < g.NZ; k++)
                for (int j = 0; j < g.NY; j++)
                    for (int i = 0; i < g.NX; i++)
                    {
                        int o = g.Index(i, j, k);
                        double x = i + d[3 * o] / 2, y = j + d[3 * o + 1] / 1.5, z = k + d[3 * o + 2] / 2.5;
                        bool inBox = x >= 0 && y >= 0 && z >= 0 && x <= g.NX - 1 && y <= g.NY - 1 && z <= g.NZ - 1;
                        if (inBox && (x < 1 || y < 1 || z < 1 || x >= g.NX - 2 || y >= g.NY - 2 || z >= g.NZ - 2)) rim++;
                        Assert.True(Math.Abs(warped[o] - spline.Value(x, y, z)) < 2e-6, $"voxel ({i}, {j}, {k}): {warped[o]} vs {spline.Value(x, y, z)}");
                    }
        }
        Assert.True(rim > g.VoxelCount / 4, $"{rim} rim points");
    }

    /// <summary>
    /// The affine's cubic samplers answer Value (SyN's warp near the edges) with the operations ValueGradient uses for
    /// the value, in the same order: the same bits, inside, near the faces and outside, in 3D and 2D.
    /// </summary>
    [Fact]
    public unsafe void CubicSamplersValueIsValueGradientsValueBitForBit()
    {
        int nx = 11, ny = 9, nz = 7;
        var rnd = new Random(5);
        var img = new float[nx * ny * nz];
        for (int q = 0; q < img.Length; q++) img[q] = (float)rnd.NextDouble();
        var coef = RegPS.Engine.Filters.BSplinePrefilter.Coefficients(img, nx, ny, nz, 1);
        fixed (float* pc = coef, ps = img)
        {
            var s3 = new CubicBSpline3(pc, ps, nx, ny, nz);
            var s2 = new CubicBSpline2(pc, ps, nx, ny);
            for (int t = 0; t < 2000; t++)
            {
                double x = rnd.NextDouble() * (nx + 2) - 1.5, y = rnd.NextDouble() * (ny + 2) - 1.5, z = rnd.NextDouble() * (nz + 2) - 1.5;
                Assert.Equal(BitConverter.DoubleToInt64Bits(s3.ValueGradient(x, y, z, out _, out _, out _)), BitConverter.DoubleToInt64Bits(s3.Value(x, y, z)));
                Assert.Equal(BitConverter.DoubleToInt64Bits(s2.ValueGradient(x, y, 0, out _, out _, out _)), BitConverter.DoubleToInt64Bits(s2.Value(x, y, 0)));
            }
        }
    }

    [Theory]
    [InlineData(12, 11, 9, 23, 21, 17, 0.5, 0.5, 0.5)]
    [InlineData(12, 11, 9, 23, 21, 12, 0.5, 0.5, 0.75)]   // the T1's z axis at level 0 (scalings 1.33 -> 1)
    [InlineData(46, 55, 1, 91, 109, 1, 0.5, 0.5, 1.0)]    // 2D
    [InlineData(7, 6, 5, 20, 19, 18, 0.37, 0.41, 0.33)]   // samples past the coarse grid's far faces
    public void ExpandGivesThePerVoxelZeroPaddedInterpolationsBits(int cx, int cy, int cz, int fx, int fy, int fz, double f0, double f1, double f2)
    {
        var coarse = cz == 1 ? Grid.Create2D(cx, cy) : Grid.Create3D(cx, cy, cz);
        var fine = fz == 1 ? Grid.Create2D(fx, fy) : Grid.Create3D(fx, fy, fz);
        var rnd = new Random(cx * fz);
        var cf = new float[3 * coarse.VoxelCount];
        for (int i = 0; i < cf.Length; i++) cf[i] = cz == 1 && i % 3 == 2 ? 0 : (float)(4 * rnd.NextDouble() - 2);
        var got = new float[3 * fine.VoxelCount];
        foreach (int threads in new[] { 1, 2 })
        {
            FieldExpansion.Expand(cf, new FieldGrid(coarse), new FieldGrid(fine), new[] { f0, f1, f2 }, got, threads);
            int outside = 0;
            for (int k = 0; k < fz; k++)
                for (int j = 0; j < fy; j++)
                    for (int i = 0; i < fx; i++)
                    {
                        Linear.FieldZeroPadded(cf, cx, cy, cz, i * f0, j * f1, k * f2, out double x, out double y, out double z);
                        int o = 3 * ((k * fy + j) * fx + i);
                        Assert.Equal((float)x, got[o]); Assert.Equal((float)y, got[o + 1]); Assert.Equal((float)z, got[o + 2]);
                        if (x == 0 && y == 0 && z == 0) outside++;
                    }
            if (f0 < 0.4) Assert.True(outside > 100, "some fine voxels must fall off the coarse grid");
        }
    }

    [Fact]
    public void ExpandingALinearFieldIsExactInside()
    {
        var fine = Grid.Create3D(20, 18, 16, 1, 1, 1);
        var coarse = fine.WithMatrix(10, 9, 8, fine.GridToWorld * Matrix4.Scaling(2, 2, 2));
        var cf = FromFunction(coarse, (x, y, z) => (0.1 * x - 0.2 * y, 0.05 * z + 1, -0.3 * x));
        var ff = new float[3 * fine.VoxelCount];
        FieldExpansion.Expand(cf, new FieldGrid(coarse), new FieldGrid(fine), new[] { 0.5, 0.5, 0.5 }, ff, 2);
        for (int k = 0; k < 15; k++)
            for (int j = 0; j < 17; j++)
                for (int i = 0; i < 19; i++)
                {
                    int o = 3 * fine.Index(i, j, k);
                    Assert.Equal(0.1 * i - 0.2 * j, ff[o], 4);
                    Assert.Equal(0.05 * k + 1, ff[o + 1], 4);
                    Assert.Equal(-0.3 * i, ff[o + 2], 4);
                }
    }

    [Fact]
    public void JacobianOfALinearFieldIsDetOfIPlusA()
    {
        var g = new Grid(10, 9, 8, Matrix4.Scaling(2, 1, 1.5), 3);
        double[,] A = { { 0.1, 0.2, 0 }, { -0.1, 0.05, 0.3 }, { 0, 0.1, -0.2 } };
        var f = FromFunction(g, (x, y, z) => (A[0, 0] * x + A[0, 1] * y + A[0, 2] * z, A[1, 0] * x + A[1, 1] * y + A[1, 2] * z, A[2, 0] * x + A[2, 1] * y + A[2, 2] * z));
        var det = new float[g.VoxelCount];
        FieldJacobian.Determinant(f, new FieldGrid(g), 2.0, det, 2);
        double expected = 2.0 * ((1 + A[0, 0]) * ((1 + A[1, 1]) * (1 + A[2, 2]) - A[1, 2] * A[2, 1])
            - A[0, 1] * (A[1, 0] * (1 + A[2, 2]) - A[1, 2] * A[2, 0]) + A[0, 2] * (A[1, 0] * A[2, 1] - (1 + A[1, 1]) * A[2, 0]));
        foreach (var v in det) Assert.Equal(expected, v, 4);
    }

    [Theory]
    [InlineData(4.0)]
    [InlineData(3.0)]
    public void VectorSmoothingMatchesABruteForceReflectConvolution(double truncate)
    {
        int nx = 13, ny = 11, nz = 9;
        var rnd = new Random(3);
        var f = new float[3 * nx * ny * nz];
        for (int i = 0; i < f.Length; i++) f[i] = (float)rnd.NextDouble();
        var orig = (float[])f.Clone();
        double sigma = 1.3;
        FieldSmoothing.Smooth(f, 3, nx, ny, nz, new[] { sigma, sigma, sigma }, 2, truncate);
        // scipy's rule: radius round(truncate * sigma): 5 taps each side at 4 sigma, 4 at 3 sigma
        int r = (int)(truncate * sigma + 0.5);
        Assert.Equal(truncate == 4 ? 5 : 4, r);
        var w = new double[2 * r + 1]; double ws = 0;
        for (int t = -r; t <= r; t++) { w[t + r] = Math.Exp(-0.5 * t * t / (sigma * sigma)); ws += w[t + r]; }
        static int Refl(int i, int n) { while (i < 0 || i >= n) i = i < 0 ? -i - 1 : 2 * n - i - 1; return i; }
        foreach (var (i, j, k) in new[] { (0, 0, 0), (6, 5, 4), (12, 10, 8), (1, 9, 2), (7, 0, 8) })
            for (int c = 0; c < 3; c++)
            {
                double acc = 0;
                for (int a = -r; a <= r; a++)
                    for (int b = -r; b <= r; b++)
                        for (int e = -r; e <= r; e++)
                            acc += w[a + r] * w[b + r] * w[e + r] * orig[3 * ((Refl(k + e, nz) * ny + Refl(j + b, ny)) * nx + Refl(i + a, nx)) + c];
                Assert.Equal(acc / (ws * ws * ws), f[3 * ((k * ny + j) * nx + i) + c], 4);
            }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(1, 2)]
    [InlineData(9, 1)]
    [InlineData(9, 2)]
    public void SmoothingFieldsTogetherGivesEachFieldsOwnBits(int nz, int threads)
    {
        // the SyN steps u and v are smoothed in one call (shared parallel loops): each must come out as smoothed alone
        int nx = 37, ny = 29;
        var rnd = new Random(41 + nz);
        var u = new float[3 * nx * ny * nz]; var v = new float[u.Length];
        for (int i = 0; i < u.Length; i++) { u[i] = (float)(2 * rnd.NextDouble() - 1); v[i] = (float)(2 * rnd.NextDouble() - 1); }
        var sig = new[] { 2.5, 2.0, nz > 1 ? 1.5 : 0 };
        var uAlone = (float[])u.Clone(); var vAlone = (float[])v.Clone();
        FieldSmoothing.Smooth(uAlone, 3, nx, ny, nz, sig, 1, 3);
        FieldSmoothing.Smooth(vAlone, 3, nx, ny, nz, sig, 1, 3);
        var uOrig = (float[])u.Clone();
        FieldSmoothing.Smooth(new[] { u, v }, 3, nx, ny, nz, sig, threads, 3);
        Assert.NotEqual(uOrig, u);
        Assert.Equal(uAlone, u);
        Assert.Equal(vAlone, v);
    }

    [Fact]
    public void TwoDimensionalSmoothingInColumnBlocksGivesTheSlicePassBits()
    {
        // 2D (one slice) runs its y pass in blocks of 16 columns; a volume of 4 copies of the slice with no z smoothing
        // runs the per-slice pass: every slice must come out as the 2D result, bit for bit, at 1 and 2 threads
        int nx = 53, ny = 41;
        var rnd = new Random(17);
        var f2 = new float[3 * nx * ny];
        for (int i = 0; i < f2.Length; i++) f2[i] = i % 3 == 2 ? 0 : (float)(2 * rnd.NextDouble() - 1);
        var f3 = new float[4 * f2.Length];
        for (int k = 0; k < 4; k++) Array.Copy(f2, 0, f3, k * f2.Length, f2.Length);
        FieldSmoothing.Smooth(f3, 3, nx, ny, 4, new[] { 2.0, 1.5, 0 }, 1);
        foreach (int threads in new[] { 1, 2 })
        {
            var g2 = (float[])f2.Clone();
            FieldSmoothing.Smooth(g2, 3, nx, ny, 1, new[] { 2.0, 1.5, 0 }, threads);
            Assert.NotEqual(f2, g2);
            for (int k = 0; k < 4; k++) Assert.Equal(g2, f3.AsSpan(k * f2.Length, f2.Length).ToArray());
        }
    }

    [Theory]
    [InlineData(2, 17, 15, 1)]
    [InlineData(4, 12, 11, 10)]
    [InlineData(3, 9, 10, 8)]
    public void BoxSumsMatchBruteForceTruncatedWindows(int r, int nx, int ny, int nz)
    {
        var rnd = new Random(r * 100 + nz);
        var I = new float[nx * ny * nz]; var J = new float[nx * ny * nz];
        for (int v = 0; v < I.Length; v++) { I[v] = (float)rnd.NextDouble(); J[v] = (float)rnd.NextDouble(); }
        var sums = new double[5 * I.Length];
        CrossCorrelationMetric.BoxSums(I, J, nx, ny, nz, r, sums, 2);
        for (int k = 0; k < nz; k++)
            for (int j = 0; j < ny; j++)
                for (int i = 0; i < nx; i++)
                {
                    var s = new double[5];
                    for (int c = Math.Max(0, k - r); c <= Math.Min(nz - 1, k + r); c++)
                        for (int b = Math.Max(0, j - r); b <= Math.Min(ny - 1, j + r); b++)
                            for (int a = Math.Max(0, i - r); a <= Math.Min(nx - 1, i + r); a++)
                            {
                                double x = I[(c * ny + b) * nx + a], y = J[(c * ny + b) * nx + a];
                                s[0] += x; s[1] += y; s[2] += x * x; s[3] += y * y; s[4] += x * y;
                            }
                    int o = 5 * ((k * ny + j) * nx + i);
                    for (int m = 0; m < 5; m++) Assert.Equal(s[m], sums[o + m], 9);
                }
    }

    [Theory]
    [InlineData(4, 45, 37, 1)]
    [InlineData(3, 29, 22, 1)]
    [InlineData(4, 37, 21, 14)]
    public void SimdStepsGiveTheScalarStepsBits(int r, int nx, int ny, int nz)
    {
        var g = nz == 1 ? new Grid(nx, ny, 1, Matrix4.Scaling(1.5, 2, 1), 2) : new Grid(nx, ny, nz, Matrix4.Scaling(1.5, 2, 2.5), 3);
        var fg = new FieldGrid(g);
        var rnd = new Random(nx * ny + nz);
        var I = new float[g.VoxelCount]; var J = new float[g.VoxelCount];
        for (int k = 0; k < nz; k++)
            for (int j = 0; j < ny; j++)
                for (int i = 0; i < nx; i++)
                {
                    int o = (k * ny + j) * nx + i;
                    // a flat patch (no step there) next to a textured area
                    bool flat = i < 12 && j < 12;
                    I[o] = flat ? 0.25f : (float)(0.5 + 0.3 * Math.Sin(0.3 * i + 0.2 * j - 0.1 * k) + 0.05 * rnd.NextDouble());
                    J[o] = flat ? 0.75f : (float)(0.5 + 0.3 * Math.Sin(0.3 * i + 0.25 * j - 0.12 * k + 0.4) + 0.05 * rnd.NextDouble());
                }
        var res = new List<(float[] u, float[] v, double e)>();
        // scalar, widest (AVX2 on x64) and 128-bit (arm64's) paths
        foreach (var path in new[] { VectorPath.Scalar, VectorPath.Widest, VectorPath.Vector128 })
        {
            var metric = new CrossCorrelationMetric(r, 2, ny * nz) { Path = path };
            var u = new float[3 * g.VoxelCount]; var v = new float[3 * g.VoxelCount];
            double e = metric.ComputeSteps(I, J, fg, u, v, 2);
            res.Add((u, v, e));
        }
        Assert.Contains(res[0].u, x => x != 0);
        for (int p = 1; p < res.Count; p++)
        {
            Assert.Equal(BitConverter.DoubleToInt64Bits(res[0].e), BitConverter.DoubleToInt64Bits(res[p].e));
            for (int m = 0; m < res[0].u.Length; m++)
            {
                Assert.Equal(BitConverter.SingleToInt32Bits(res[0].u[m]), BitConverter.SingleToInt32Bits(res[p].u[m]));
                Assert.Equal(BitConverter.SingleToInt32Bits(res[0].v[m]), BitConverter.SingleToInt32Bits(res[p].v[m]));
            }
        }
    }

    [Theory]
    [InlineData(4, 37, 21, 30)]
    [InlineData(4, 13, 12, 9)]    // fewer slices than the ring
    [InlineData(2, 70, 9, 14)]
    public void StreamedSlicesGiveTheWholeVolumeStepsBits(int r, int nx, int ny, int nz)
    {
        var g = new Grid(nx, ny, nz, Matrix4.Scaling(1.5, 2, 2.5), 3);
        var fg = new FieldGrid(g);
        var rnd = new Random(nx + nz);
        var I = new float[g.VoxelCount]; var J = new float[g.VoxelCount];
        for (int k = 0; k < nz; k++)
            for (int j = 0; j < ny; j++)
                for (int i = 0; i < nx; i++)
                {
                    int o = (k * ny + j) * nx + i;
                    I[o] = (float)(0.5 + 0.3 * Math.Sin(0.3 * i + 0.2 * j - 0.1 * k) + 0.05 * rnd.NextDouble());
                    J[o] = (float)(0.5 + 0.3 * Math.Sin(0.3 * i + 0.25 * j - 0.12 * k + 0.4) + 0.05 * rnd.NextDouble());
                }
        var results = new List<(float[] u, float[] v, double e)>();
        foreach (var (stream, threads) in new[] { (false, 1), (true, 1), (true, 2) })
        {
            var metric = new CrossCorrelationMetric(r, 2, ny * nz) { StreamSlices = stream };
            var u = new float[3 * g.VoxelCount]; var v = new float[3 * g.VoxelCount];
            // twice through the same metric: the second call must not see the first call's state
            metric.ComputeSteps(J, I, fg, u, v, threads);
            double e = metric.ComputeSteps(I, J, fg, u, v, threads);
            results.Add((u, v, e));
        }
        Assert.True(results[0].e < -1, "the energy must come from many windows");
        Assert.Contains(results[0].u, x => x != 0);
        for (int m = 1; m < results.Count; m++)
        {
            Assert.Equal(BitConverter.DoubleToInt64Bits(results[0].e), BitConverter.DoubleToInt64Bits(results[m].e));
            Assert.Equal(results[0].u, results[m].u);
            Assert.Equal(results[0].v, results[m].v);
        }
    }

    /// <summary>
    /// DIPY's CC step at x is the derivative of the correlation of the window centred at x (ANTs' approximation):
    /// u(x) = dE_x/dI(x) * grad I(x) with E_x = -A^2/(BC) of that window. Checked exactly against a central finite
    /// difference of a brute-force E_x; and, as a sanity check of sign and size, against a finite difference of the
    /// total energy, whose exact derivative sums that term over the (2r+1)^d windows containing x.
    /// </summary>
    [Fact]
    public void CcForwardStepAgreesWithFiniteDifferencesOfTheEnergy()
    {
        int n = 22, r = 2;
        var g = Grid.Create2D(n, n);
        var fg = new FieldGrid(g);
        var I = new float[n * n]; var J = new float[n * n];
        for (int j = 0; j < n; j++)
            for (int i = 0; i < n; i++)
            {
                I[j * n + i] = (float)(0.5 + 0.3 * Math.Sin(0.2 * i + 0.1 * j) + 0.1 * Math.Cos(0.27 * j));
                J[j * n + i] = (float)(0.5 + 0.3 * Math.Sin(0.2 * (i + 0.8) + 0.1 * j) + 0.12 * Math.Cos(0.25 * j - 0.3));
            }
        var metric = new CrossCorrelationMetric(r, 0, n);
        var u = new float[3 * n * n]; var v = new float[3 * n * n];
        double energy = metric.ComputeSteps(I, J, fg, u, v, 1);
        Assert.Equal(BruteEnergy(I, J, n, r, -1, 0), energy, 6);
        double dot = 0, nu = 0, nf = 0, worst = 0;
        for (int j = r + 1; j < n - r - 1; j++)
            for (int i = r + 1; i < n - r - 1; i++)
            {
                int o = j * n + i;
                double gx = 0.5 * (I[o + 1] - I[o - 1]), gy = 0.5 * (I[o + n] - I[o - n]);
                const double h = 1e-4;
                double dEx = (WindowEnergy(I, J, n, r, i, j, o, h) - WindowEnergy(I, J, n, r, i, j, o, -h)) / (2 * h);
                worst = Math.Max(worst, Math.Abs(dEx * gx - u[3 * o]) + Math.Abs(dEx * gy - u[3 * o + 1]));
                Assert.Equal(dEx * gx, u[3 * o], 4);
                Assert.Equal(dEx * gy, u[3 * o + 1], 4);
                double fd = (BruteEnergy(I, J, n, r, o, h * gx) - BruteEnergy(I, J, n, r, o, -h * gx)) / (2 * h);
                double ux = u[3 * o];
                dot += fd * ux; nu += ux * ux; nf += fd * fd;
            }
        double corr = dot / Math.Sqrt(nu * nf);
        double ratio = Math.Sqrt(nf / nu), windows = (2 * r + 1) * (2 * r + 1);
        Assert.True(nu > 1e-6, "the step must not vanish");
        Assert.True(corr > 0.7, $"correlation between the step and the total-energy finite difference: {corr:0.000}");
        Assert.InRange(ratio, windows / 3, windows * 3);
    }

    /// <summary>-A^2/(BC) of the window centred at (i, j), with I[p] + delta in double.</summary>
    private static double WindowEnergy(float[] I, float[] J, int n, int r, int i, int j, int p, double delta)
    {
        double si = 0, sj = 0, cnt = 0;
        double Iv(int q) => I[q] + (q == p ? delta : 0);
        for (int b = j - r; b <= j + r; b++) for (int a = i - r; a <= i + r; a++) { si += Iv(b * n + a); sj += J[b * n + a]; cnt++; }
        double mi = si / cnt, mj = sj / cnt, A = 0, B = 0, C = 0;
        for (int b = j - r; b <= j + r; b++)
            for (int a = i - r; a <= i + r; a++)
            {
                double x = Iv(b * n + a) - mi, y = J[b * n + a] - mj;
                A += x * y; B += x * x; C += y * y;
            }
        return -A * A / (B * C);
    }

    /// <summary>DIPY's energy: the sum of the window energies over voxels at least r from every face.</summary>
    private static double BruteEnergy(float[] I, float[] J, int n, int r, int p, double delta)
    {
        double e = 0;
        for (int j = r; j < n - r; j++)
            for (int i = r; i < n - r; i++)
                e += WindowEnergy(I, J, n, r, i, j, p, delta);
        return e;
    }

    [Fact]
    public void SliceInVoxelsUsesTheGridAxesOfAPermutedGrid()
    {
        // ITK T1-like grid: i -> -x (2 mm), j -> +z (2 mm), k -> +y (3 mm)
        var m = new Matrix4(new double[] { -2, 0, 0, 0, 0, 0, 3, 0, 0, 2, 0, 0, 0, 0, 0, 1 });
        var g = new Grid(6, 5, 4, m, 3);
        var data = new float[3 * g.VoxelCount];
        for (int v = 0; v < g.VoxelCount; v++) { data[3 * v] = 4; data[3 * v + 1] = 6; data[3 * v + 2] = -1; } // world (4, 6, -1) mm
        var f = new DisplacementField(g, data);
        // voxel units: di = 4 / -2 = -2, dj = -1 / 2 = -0.5, dk = 6 / 3 = 2
        var ax = f.SliceInVoxels(2, 1);
        Assert.Equal((6, 5), (ax.width, ax.height));
        Assert.All(ax.dx, x => Assert.Equal(-2, x, 5)); Assert.All(ax.dy, y => Assert.Equal(-0.5, y, 5));
        var co = f.SliceInVoxels(1, 2);
        Assert.Equal((6, 4), (co.width, co.height));
        Assert.All(co.dx, x => Assert.Equal(-2, x, 5)); Assert.All(co.dy, y => Assert.Equal(2, y, 5));
        var sa = f.SliceInVoxels(0, 3);
        Assert.Equal((5, 4), (sa.width, sa.height));
        Assert.All(sa.dx, x => Assert.Equal(-0.5, x, 5)); Assert.All(sa.dy, y => Assert.Equal(2, y, 5));
        Assert.Equal(6, f.Component(1).Voxels[7]);
        Assert.Throws<ArgumentException>(() => new DisplacementField(g, new float[5]));
    }
}

public class ComposeSimdTests
{
    [Theory]
    [InlineData(3)]
    [InlineData(2)]
    public void SimdAndScalarCompositionAgree(int dim)
    {
        // rows of 37 and 45 voxels: the SIMD kernel's shifted last group is exercised; 2D fields keep z = 0
        var g = dim == 3 ? new Grid(37, 21, 9, Matrix4.Scaling(1.5, 2, 2.5), 3) : new Grid(45, 23, 1, Matrix4.Scaling(1.5, 2, 1), 2);
        var fg = new FieldGrid(g);
        var rnd = new Random(dim == 3 ? 9 : 11);
        var d1 = new float[3 * g.VoxelCount]; var d2 = new float[3 * g.VoxelCount];
        for (int i = 0; i < d1.Length; i++)
            if (dim == 3 || i % 3 != 2) { d1[i] = (float)(4 * rnd.NextDouble() - 2); d2[i] = (float)(2 * rnd.NextDouble() - 1); }
        var a = new float[d1.Length]; var b = new float[d1.Length];
        int rows = g.NY * g.NZ;
        var s1 = new double[rows]; var m1 = new double[rows]; var s2 = new double[rows]; var m2 = new double[rows];
        FieldComposition.Compose(d1, d2, fg, 0.7, a, s1, m1, 1, VectorPath.Scalar);
        FieldComposition.Compose(d1, d2, fg, 0.7, b, s2, m2, dim == 3 ? 1 : 2, VectorPath.Widest);
        // in place (comp = d1, as a step is composed into its field): the same values, the row tails included
        var inPlace = (float[])d1.Clone();
        FieldComposition.Compose(inPlace, d2, fg, 0.7, inPlace, null, null, 2, VectorPath.Widest);
        Assert.Equal(b, inPlace);
        int zeros = 0;
        for (int i = 0; i < a.Length; i++)
        {
            Assert.InRange(Math.Abs(a[i] - b[i]), 0, 1e-5);
            if (dim == 2 && i % 3 == 2) Assert.Equal(0f, b[i]);
            else if (a[i] == 0) zeros++;
        }
        Assert.True(zeros > (dim == 3 ? 100 : 20), "some points must fall off the domain");
        for (int r = 0; r < rows; r++) { Assert.InRange(Math.Abs(s1[r] - s2[r]), 0, 1e-4); Assert.InRange(Math.Abs(m1[r] - m2[r]), 0, 1e-5); }
    }

    [Theory]
    [InlineData(3, 37, 21, 9)]
    [InlineData(2, 45, 23, 1)]
    [InlineData(3, 8, 5, 4)]
    [InlineData(2, 19, 7, 1)]
    public void Vector128CompositionGivesTheWidestPathsBits(int dim, int nx, int ny, int nz)
    {
        // what arm64 (and x64 without AVX2) runs must give the bits x64 with AVX2 gives: values, row sums and maxima, in
        // place and not, with points in the interior, near the faces, off the domain and at the array's last voxels
        var g = dim == 3 ? new Grid(nx, ny, nz, Matrix4.Scaling(1.5, 2, 2.5), 3) : new Grid(nx, ny, 1, Matrix4.Scaling(1.5, 2, 1), 2);
        var fg = new FieldGrid(g);
        var rnd = new Random(nx * 31 + ny);
        var d1 = new float[3 * g.VoxelCount]; var d2 = new float[3 * g.VoxelCount];
        for (int i = 0; i < d1.Length; i++)
            if (dim == 3 || i % 3 != 2) { d1[i] = (float)(3 * rnd.NextDouble() - 1.5); d2[i] = (float)(2 * rnd.NextDouble() - 1); }
        // a quarter of the rows small enough to stay inside (the interior blend), the rest large (faces, off-domain)
        for (int i = 0; i < d1.Length / 4; i++) d1[i] *= 0.1f;
        int rows = g.NY * g.NZ;
        var a = new float[d1.Length]; var b = new float[d1.Length];
        var s1 = new double[rows]; var m1 = new double[rows]; var s2 = new double[rows]; var m2 = new double[rows];
        FieldComposition.Compose(d1, d2, fg, 0.7, a, s1, m1, 1, VectorPath.Widest);
        FieldComposition.Compose(d1, d2, fg, 0.7, b, s2, m2, 2, VectorPath.Vector128);
        Assert.Equal(a, b);
        Assert.Equal(s1, s2);
        Assert.Equal(m1, m2);
        var inPlace = (float[])d1.Clone();
        FieldComposition.Compose(inPlace, d2, fg, 0.7, inPlace, null, null, 2, VectorPath.Vector128);
        Assert.Equal(a, inPlace);
        // and the inversion that runs on it (composition passes fused with the 128-bit update) gives the same bits too
        var p1 = new float[d1.Length]; var p2 = new float[d1.Length]; var q = new float[d1.Length];
        var r1 = FieldInversion.Invert(d2, fg, 6, 0, 0, p1, q, s1, m1, 1);
        var r2 = FieldInversion.Invert(d2, fg, 6, 0, 0, p2, q, s2, m2, 2, VectorPath.Vector128);
        Assert.Equal(r1, r2);
        Assert.Equal(p1, p2);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(2)]
    public void SimdAndScalarWarpAgree(int dim)
    {
        // moving image on another grid, a prealign (in 2D it leaves z alone), a random field (z = 0 in 2D)
        var ig = dim == 3
            ? new Grid(30, 26, 20, Matrix4.Translation(-3, 2, 1) * Matrix4.Scaling(1.2, 1.1, 1.4), 3)
            : new Grid(40, 33, 1, Matrix4.Translation(-3, 2, 0) * Matrix4.Scaling(1.2, 1.1, 1), 2);
        var g = dim == 3 ? new Grid(35, 22, 18, Matrix4.Scaling(1, 1.3, 1.5), 3) : new Grid(43, 29, 1, Matrix4.Scaling(1, 1.3, 1), 2);
        var fg = new FieldGrid(g);
        var rnd = new Random(dim == 3 ? 4 : 5);
        var img = new float[ig.VoxelCount];
        for (int i = 0; i < img.Length; i++) img[i] = (float)rnd.NextDouble();
        var d = new float[3 * g.VoxelCount];
        for (int i = 0; i < d.Length; i++) if (dim == 3 || i % 3 != 2) d[i] = (float)(3 * rnd.NextDouble() - 1.5);
        var P = dim == 3
            ? new Matrix4(new double[] { 0.98, 0.05, 0, 1.5, -0.04, 1.02, 0.03, -2, 0, 0.02, 0.99, 0.5, 0, 0, 0, 1 })
            : new Matrix4(new double[] { 0.98, 0.05, 0, 1.5, -0.04, 1.02, 0, -2, 0, 0, 1, 0, 0, 0, 0, 1 });
        var a = new float[g.VoxelCount]; var b = new float[g.VoxelCount];
        FieldWarp.Warp(img, ig, P, d, fg, a, 1, VectorPath.Scalar);
        FieldWarp.Warp(img, ig, P, d, fg, b, 2, VectorPath.Widest);
        // the 128-bit path (arm64's) gives the widest path's bits
        var c = new float[g.VoxelCount];
        FieldWarp.Warp(img, ig, P, d, fg, c, 2, VectorPath.Vector128);
        Assert.Equal(b, c);
        // and so does the whole-grid case where every group takes the vector blend (small displacements, no prealign)
        var small = d.Select(v => v * 0.05f).ToArray();
        var e1 = new float[g.VoxelCount]; var e2 = new float[g.VoxelCount];
        FieldWarp.Warp(img, ig, Matrix4.Identity, small, fg, e1, 1, VectorPath.Widest);
        FieldWarp.Warp(img, ig, Matrix4.Identity, small, fg, e2, 1, VectorPath.Vector128);
        Assert.Equal(e1, e2);
        int zeros = 0, inside = 0;
        for (int i = 0; i < a.Length; i++)
        {
            Assert.InRange(Math.Abs(a[i] - b[i]), 0, dim == 3 ? 1e-4 : 1e-5);
            if (a[i] == 0) zeros++; else inside++;
        }
        Assert.True(zeros > (dim == 3 ? 100 : 20) && inside > (dim == 3 ? 1000 : 500), "both in- and off-image samples must occur");
    }
}
