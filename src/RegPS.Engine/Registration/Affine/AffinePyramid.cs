using System.Runtime.CompilerServices;
using RegPS.Engine.Filters;
using RegPS.Engine.Images;
using RegPS.Engine.Metrics;
using RegPS.Engine.Resampling;

namespace RegPS.Engine.Registration.Affine;

/// <summary>One pyramid level, ready for the metric: static samples with their bins and the smoothed moving image.</summary>
internal sealed class AffineLevel
{
    public required MiStaticSamples Static { get; init; }
    public required float[] Moving { get; init; }
    public required double MovingMin { get; init; }
    public required double MovingMax { get; init; }
    /// <summary>The grid of <see cref="Moving"/> (the moving image's own grid, or a decimated one).</summary>
    public required Grid MovingGrid { get; init; }
    /// <summary>The moving mask on <see cref="MovingGrid"/> (null without a mask).</summary>
    public byte[]? MovingMask { get; init; }
    /// <summary>Cubic B-spline coefficients of <see cref="Moving"/> when the level interpolates cubically.</summary>
    public float[]? MovingCoefficients { get; init; }
    public required int Factor { get; init; }
    public required double Sigma { get; init; }
}

/// <summary>
/// DIPY's isotropic scale space for affine registration (dipy.align.scalespace.IsotropicScaleSpace as used by
/// AffineRegistration.optimize): both images rescaled to [0, 1], smoothed with a Gaussian of sigma voxels (scipy
/// semantics, reflect boundary) and rescaled again; the static image is then point-sampled on a grid shrunk by the
/// level factor with voxel 0 anchored (grid2world * diag(shrink)), the moving image stays at full resolution.
/// </summary>
internal static class AffinePyramid
{
    public static AffineLevel Build(Image @static, Image moving, Image? staticMask, Image? movingMask, int bins, int factor, double sigma,
        double? proportion, int seed, int maxDegree)
    {
        var sg = @static.Grid;
        int dim = sg.Dimension;
        // Static: normalise, smooth, normalise, shrink.
        float[] sFull = SmoothLevel(@static, staticMask, sigma, maxDegree);
        var shrink = ShrinkFactors(sg, factor);
        int lx = Math.Max(1, sg.NX / shrink[0]), ly = Math.Max(1, sg.NY / shrink[1]), lz = dim == 2 ? 1 : Math.Max(1, sg.NZ / shrink[2]);
        var levelG2w = sg.GridToWorld * Matrix4.Scaling(shrink[0], shrink[1], dim == 2 ? 1 : shrink[2]);
        var levelGrid = new Grid(lx, ly, lz, levelG2w, dim);
        var sLevel = new float[levelGrid.VoxelCount];
        var inMask = new bool[levelGrid.VoxelCount];
        var sMask = staticMask?.Buffer;
        for (int k = 0; k < lz; k++)
            for (int j = 0; j < ly; j++)
                for (int i = 0; i < lx; i++)
                {
                    int src = sg.Index(i * shrink[0], j * shrink[1], dim == 2 ? 0 : k * shrink[2]);
                    int dst = levelGrid.Index(i, j, k);
                    sLevel[dst] = sFull[src];
                    inMask[dst] = sMask is null || sMask[src] != 0;
                }
        double sMin = double.PositiveInfinity, sMax = double.NegativeInfinity;
        for (int v = 0; v < sLevel.Length; v++)
        {
            if (!inMask[v]) continue;
            sMin = Math.Min(sMin, sLevel[v]);
            sMax = Math.Max(sMax, sLevel[v]);
        }
        if (!(sMax > sMin)) throw new ArgumentException("The static image is constant (inside its mask); mutual information is undefined.");
        double sDelta = (sMax - sMin) / (bins - 4);

        MiStaticSamples samples;
        if (proportion is null)
        {
            var binsArr = new byte[sLevel.Length];
            for (int v = 0; v < sLevel.Length; v++)
                binsArr[v] = inMask[v] ? MiStaticSamples.Bin(sLevel[v], sMin, sDelta, bins) : (byte)255;
            samples = new MiStaticSamples { Grid = levelGrid, Bins = binsArr };
        }
        else
        {
            // Every k-th voxel (x-fastest order), jittered by N(0, 0.25^2) voxels from the seed; static values by
            // zero-padded linear interpolation at the jittered point, as DIPY's sample_domain_regular.
            int step = (int)Math.Ceiling(1 / proportion.Value);
            int count = sLevel.Length / step;
            var rng = new Random(seed);
            var pts = new List<double>(count * 3);
            var binList = new List<byte>(count);
            for (int s = 0; s < count; s++)
            {
                int v = s * step;
                int i = v % lx, j = v / lx % ly, k = v / (lx * ly);
                double x = i + 0.25 * Normal(rng), y = j + 0.25 * Normal(rng), z = dim == 2 ? 0 : k + 0.25 * Normal(rng);
                int ni = Math.Clamp((int)Math.Round(x), 0, lx - 1), nj = Math.Clamp((int)Math.Round(y), 0, ly - 1), nk = Math.Clamp((int)Math.Round(z), 0, lz - 1);
                if (!inMask[levelGrid.Index(ni, nj, nk)]) continue;
                float val = dim == 2
                    ? Linear.Bilinear(sLevel, 0, lx, ly, x, y, Boundary.ZeroPadded)
                    : Linear.Trilinear(sLevel, 0, lx, ly, lz, x, y, z, Boundary.ZeroPadded);
                var (wx, wy, wz) = levelG2w.Apply(x, y, z);
                pts.Add(wx); pts.Add(wy); pts.Add(wz);
                binList.Add(MiStaticSamples.Bin(val, sMin, sDelta, bins));
            }
            if (binList.Count == 0) throw new ArgumentException("Sparse sampling left no static sample inside the mask; raise SamplingProportion.");
            samples = new MiStaticSamples { Grid = levelGrid, Bins = binList.ToArray(), Points = pts.ToArray() };
        }

        // Moving: normalise, smooth at full resolution, normalise.
        var mg = moving.Grid;
        float[] mFull = SmoothLevel(moving, movingMask, sigma, maxDegree);
        double mMin = double.PositiveInfinity, mMax = double.NegativeInfinity;
        var mMask = movingMask?.Buffer;
        for (int v = 0; v < mFull.Length; v++)
        {
            if (mMask is not null && mMask[v] == 0) continue;
            mMin = Math.Min(mMin, mFull[v]);
            mMax = Math.Max(mMax, mFull[v]);
        }
        return new AffineLevel
        {
            Static = samples, Moving = mFull, MovingMin = mMin, MovingMax = mMax, Factor = factor, Sigma = sigma, MovingGrid = mg,
            MovingMask = movingMask is null ? null : MaskBytes(movingMask.Buffer),
        };
    }

    /// <summary>
    /// RegPS's pyramid for off-grid random sampling: each image is rescaled to [0, 1], smoothed and decimated on its own
    /// grid (<see cref="GaussianDecimation"/>) to about the level's spacing (static finest spacing x factor, per axis the
    /// integer shrink closest to it), rescaled again, and sampled at <paramref name="count"/> stratified random points
    /// (<see cref="RandomSamples"/>). Sigma is in voxels of the finest axis and scales with each axis's shrink. Both images
    /// shrink, so a coarse level costs little to build and its moving image fits in cache; the static values and the
    /// moving image are interpolated with cubic B-splines (or linearly).
    /// </summary>
    /// <param name="staticNormalised">The static voxels rescaled to [0, 1] (<see cref="Normalise"/>), shared by the levels.</param>
    /// <param name="movingNormalised">The moving voxels rescaled to [0, 1].</param>
    public static AffineLevel BuildDecimated(Grid staticGrid, float[] staticNormalised, Grid movingGrid, float[] movingNormalised,
        Image? staticMask, Image? movingMask, int bins, int factor, double sigma, int count, int seed, int margin, bool cubic, int maxDegree)
    {
        var sg = staticGrid;
        double target = sg.Spacing.Take(sg.Dimension).Min() * factor;
        var (sLevel, sGrid, sMaskLevel) = Decimate(staticNormalised, sg, staticMask, target, sigma, factor, maxDegree);
        var inMask = new bool[sLevel.Length];
        double sMin = double.PositiveInfinity, sMax = double.NegativeInfinity;
        for (int v = 0; v < sLevel.Length; v++)
        {
            inMask[v] = sMaskLevel is null || sMaskLevel[v] != 0;
            if (!inMask[v]) continue;
            sMin = Math.Min(sMin, sLevel[v]);
            sMax = Math.Max(sMax, sLevel[v]);
        }
        if (!(sMax > sMin)) throw new ArgumentException("The static image is constant (inside its mask); mutual information is undefined.");
        double sDelta = (sMax - sMin) / (bins - 4);
        var coefficients = cubic ? BSplinePrefilter.Coefficients(sLevel, sGrid.NX, sGrid.NY, sGrid.NZ, maxDegree) : null;
        var samples = RandomSamples(sLevel, coefficients, inMask, sGrid, sMin, sDelta, bins, count, seed, margin);

        var (mLevel, mGrid, mMaskLevel) = Decimate(movingNormalised, movingGrid, movingMask, target, sigma, factor, maxDegree);
        double mMin = double.PositiveInfinity, mMax = double.NegativeInfinity;
        for (int v = 0; v < mLevel.Length; v++)
        {
            if (mMaskLevel is not null && mMaskLevel[v] == 0) continue;
            mMin = Math.Min(mMin, mLevel[v]);
            mMax = Math.Max(mMax, mLevel[v]);
        }
        return new AffineLevel
        {
            Static = samples, Moving = mLevel, MovingGrid = mGrid, MovingMin = mMin, MovingMax = mMax, Factor = factor, Sigma = sigma,
            MovingMask = mMaskLevel,
            MovingCoefficients = cubic ? BSplinePrefilter.Coefficients(mLevel, mGrid.NX, mGrid.NY, mGrid.NZ, maxDegree) : null,
        };
    }

    /// <summary>
    /// One image at one level: rescaled to [0, 1], smoothed and decimated to about <paramref name="target"/> mm per axis,
    /// rescaled to [0, 1]. With a mask, normalised convolution (smooth(I m) / smooth(m), sigma at least one voxel) so
    /// what lies outside the mask does not bleed in; at sigma 0, voxels inside the mask keep their values. The mask is
    /// decimated by taking the kept voxels' values.
    /// </summary>
    private static (float[] Data, Grid Grid, byte[]? Mask) Decimate(float[] data, Grid g, Image? mask, double target, double sigma, int factor, int maxDegree)
    {
        int dim = g.Dimension;
        var sp = g.Spacing;
        var shrink = new int[] { 1, 1, 1 };
        var sig = new double[3];
        // An unsmoothed level (the finest) is never decimated: an image finer than the static one keeps its voxels.
        for (int a = 0; a < dim && sigma > 0; a++)
        {
            int best = 1;
            for (int c = 2; c <= Math.Max(1, factor * 2); c++)
                if (Math.Abs(sp[a] * c - target) < Math.Abs(sp[a] * best - target)) best = c;
            shrink[a] = best;
            sig[a] = sigma * best / factor;
        }
        if (mask is null)
        {
            if (shrink[0] == 1 && shrink[1] == 1 && shrink[2] == 1 && sigma <= 0) return (data, g, null); // already in [0, 1]
            var (d, lg) = GaussianDecimation.Apply(data, g, shrink, sig, maxDegree);
            return (Normalise(d, d.Length), lg, null);
        }
        var mb = mask.Buffer;
        var m = new float[g.VoxelCount];
        var weighted = new float[g.VoxelCount];
        for (int i = 0; i < m.Length; i++)
        {
            m[i] = mb[i] != 0 ? 1f : 0f;
            weighted[i] = data[i] * m[i];
        }
        var sigMask = new double[3];
        for (int a = 0; a < dim; a++) sigMask[a] = Math.Max(sig[a], 1);
        var (wl, levelGrid) = GaussianDecimation.Apply(weighted, g, shrink, sigMask, maxDegree);
        var (ml, _) = GaussianDecimation.Apply(m, g, shrink, sigMask, maxDegree);
        var (plain, _) = GaussianDecimation.Apply(data, g, shrink, sig, maxDegree);
        var maskLevel = new byte[wl.Length];
        for (int k = 0; k < levelGrid.NZ; k++)
            for (int j = 0; j < levelGrid.NY; j++)
                for (int i = 0; i < levelGrid.NX; i++)
                {
                    int v = levelGrid.Index(i, j, k);
                    bool inside = mb[g.Index(i * shrink[0], j * shrink[1], dim == 2 ? 0 : k * shrink[2])] != 0;
                    maskLevel[v] = inside ? (byte)1 : (byte)0;
                    if (inside && sigma <= 0) { wl[v] = plain[v]; continue; }
                    wl[v] = ml[v] > 1e-6f ? (float)((double)wl[v] / ml[v]) : 0f;
                }
        return (Normalise(wl, wl.Length), levelGrid, maskLevel);
    }

    private static byte[] MaskBytes(float[] mask)
    {
        var b = new byte[mask.Length];
        for (int i = 0; i < mask.Length; i++) b[i] = mask[i] != 0 ? (byte)1 : (byte)0;
        return b;
    }

    /// <summary>
    /// Stratified off-grid samples: the in-mask voxels, in memory order, are cut into <paramref name="count"/> equal
    /// strata; each stratum gives one voxel (uniform within it) and one point uniform inside that voxel's cell
    /// [-0.5, 0.5)^d, kept inside the grid's [0, n-1] box; voxels within <paramref name="margin"/> of a face are left
    /// out, and with a mask only voxels whose interpolation neighbourhood lies inside it are used. Static values by cubic
    /// B-spline interpolation at the point (linear without coefficients). The points come in memory order, so the moving
    /// image is walked nearly in order too. Seeded: the same points every run.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe MiStaticSamples RandomSamples(float[] level, float[]? coefficients, bool[] inMask, Grid g, double sMin, double sDelta, int bins, int count, int seed, int margin)
    {
        int dim = g.Dimension;
        // Voxels at least `margin` from every face (an axis too short for the margin keeps all its voxels).
        int mx = g.NX > 2 * margin + 2 ? margin : 0, my = g.NY > 2 * margin + 2 ? margin : 0, mz = dim == 3 && g.NZ > 2 * margin + 2 ? margin : 0;
        int bx = g.NX - 2 * mx, by = g.NY - 2 * my, bz = g.NZ - 2 * mz;
        // Without a mask the candidates are the box's voxels in memory order (no list); with one, the in-mask ones.
        List<int>? voxels = null;
        if (inMask.Contains(false))
        {
            // Points are drawn only where the interpolation's whole neighbourhood (2 voxels for cubic, 1 for linear)
            // lies inside the mask, so no value from outside it reaches a sample; a mask too thin for that is used as is.
            var eroded = Erode(inMask, g, coefficients is null ? 1 : 2);
            if (eroded.Contains(true)) inMask = eroded;
            voxels = new List<int>();
            for (int k = mz; k < g.NZ - mz; k++)
                for (int j = my; j < g.NY - my; j++)
                    for (int i = mx; i < g.NX - mx; i++)
                    {
                        int v = g.Index(i, j, k);
                        if (inMask[v]) voxels.Add(v);
                    }
            if (voxels.Count == 0) throw new ArgumentException("The static mask has no voxel at this pyramid level.");
        }
        long candidates = voxels?.Count ?? (long)bx * by * bz;
        count = (int)Math.Max(1, Math.Min(count, candidates * 8));
        var rng = new Random(seed);
        var pts = new double[count * 3];
        var binArr = new byte[count];
        double per = (double)candidates / count;
        int lx = g.NX, ly = g.NY, lz = g.NZ;
        var g2w = g.GridToWorld;
        fixed (float* cf = coefficients)
        fixed (float* lv = level)
        for (int s = 0; s < count; s++)
        {
            long at = Math.Min(candidates - 1, (long)((s + rng.NextDouble()) * per));
            int i, j, k;
            if (voxels is not null)
            {
                int v = voxels[(int)at];
                i = v % lx; j = v / lx % ly; k = v / (lx * ly);
            }
            else
            {
                i = mx + (int)(at % bx); j = my + (int)(at / bx % by); k = mz + (int)(at / ((long)bx * by));
            }
            double x = Math.Clamp(i + rng.NextDouble() - 0.5, 0, lx - 1);
            double y = Math.Clamp(j + rng.NextDouble() - 0.5, 0, ly - 1);
            double z = dim == 2 ? 0 : Math.Clamp(k + rng.NextDouble() - 0.5, 0, lz - 1);
            double val;
            if (coefficients is null)
                val = dim == 2
                    ? Linear.Bilinear(level, 0, lx, ly, x, y, Boundary.ZeroPadded)
                    : Linear.Trilinear(level, 0, lx, ly, lz, x, y, z, Boundary.ZeroPadded);
            else
                val = dim == 2 ? new CubicBSpline2(cf, lv, lx, ly).Value(x, y, 0) : new CubicBSpline3(cf, lv, lx, ly, lz).Value(x, y, z);
            var (wx, wy, wz) = g2w.Apply(x, y, z);
            pts[3 * s] = wx; pts[3 * s + 1] = wy; pts[3 * s + 2] = wz;
            binArr[s] = MiStaticSamples.Bin(val, sMin, sDelta, bins);
        }
        return new MiStaticSamples { Grid = g, Bins = binArr, Points = pts };
    }

    /// <summary>The mask eroded by a (2r+1)-voxel box (separable minimum; outside the grid counts as inside).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool[] Erode(bool[] mask, Grid g, int r)
    {
        var cur = (bool[])mask.Clone();
        int[] n = { g.NX, g.NY, g.NZ };
        int[] stride = { 1, g.NX, g.NX * g.NY };
        for (int a = 0; a < g.Dimension; a++)
        {
            var next = new bool[cur.Length];
            for (int v = 0; v < cur.Length; v++)
            {
                int coord = v / stride[a] % n[a];
                bool all = true;
                for (int d = -r; d <= r && all; d++)
                {
                    int c = coord + d;
                    if (c < 0 || c >= n[a]) continue;
                    all = cur[v + d * stride[a]];
                }
                next[v] = all;
            }
            cur = next;
        }
        return cur;
    }

    /// <summary>
    /// The image rescaled to [0, 1], smoothed with sigma voxels and rescaled again (DIPY). With a mask, smoothing is
    /// normalised by the smoothed mask (smooth(I m) / smooth(m)), so intensities outside the mask do not bleed into it
    /// (DIPY smooths through the mask), and voxels outside the mask are replaced by that masked average (sigma at least
    /// one voxel) so interpolation at the mask's edge does not pick up excluded values; inside voxels at sigma 0 keep
    /// their values, and voxels the smoothed mask does not reach become 0.
    /// </summary>
    private static float[] SmoothLevel(Image image, Image? mask, double sigma, int maxDegree)
    {
        var g = image.Grid;
        float[] data = Normalise(image.Buffer, g.VoxelCount);
        if (sigma <= 0 && mask is null) return data;
        double s = mask is null ? sigma : Math.Max(sigma, 1);
        var sig = g.Dimension == 2 ? new[] { s, s, 0 } : new[] { s, s, s };
        if (mask is null)
        {
            Gaussian.SmoothInPlace(data, g.NX, g.NY, g.NZ, sig, maxDegree);
            return Normalise(data, g.VoxelCount);
        }
        var m = new float[g.VoxelCount];
        var mb = mask.Buffer;
        var weighted = new float[g.VoxelCount];
        for (int i = 0; i < m.Length; i++)
        {
            m[i] = mb[i] != 0 ? 1f : 0f;
            weighted[i] = data[i] * m[i];
        }
        Gaussian.SmoothInPlace(weighted, g.NX, g.NY, g.NZ, sig, maxDegree);
        Gaussian.SmoothInPlace(m, g.NX, g.NY, g.NZ, sig, maxDegree);
        for (int i = 0; i < data.Length; i++)
        {
            if (sigma <= 0 && mb[i] != 0) continue;
            data[i] = m[i] > 1e-6f ? (float)((double)weighted[i] / m[i]) : 0f;
        }
        return Normalise(data, g.VoxelCount);
    }

    /// <summary>
    /// DIPY's shrink factors: the finest-spacing axis shrinks by the factor; every other axis by the integer in
    /// [1, factor] whose new spacing is closest to that axis's (ties keep the smaller difference found first).
    /// </summary>
    internal static int[] ShrinkFactors(Grid g, int factor)
    {
        var sp = g.Spacing;
        int dim = g.Dimension;
        var f = new int[3] { 1, 1, 1 };
        if (factor <= 1) return f;
        int minIndex = 0;
        for (int j = 1; j < dim; j++) if (sp[j] < sp[minIndex]) minIndex = j;
        double target = sp[minIndex] * factor;
        f[minIndex] = factor;
        for (int j = 0; j < dim; j++)
        {
            if (j == minIndex) continue;
            int best = factor;
            double minDiff = Math.Abs(sp[j] * factor - target);
            for (int c = 1; c < factor; c++)
            {
                double diff = Math.Abs(sp[j] * c - target);
                if (diff < minDiff) { best = c; minDiff = diff; }
            }
            f[j] = best;
        }
        return f;
    }

    /// <summary>A copy rescaled to [0, 1] by its min and max (float32 storage, double arithmetic).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float[] Normalise(float[] data, int count)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        for (int i = 0; i < count; i++)
        {
            float v = data[i];
            if (!float.IsFinite(v)) continue;
            if (v < min) min = v;
            if (v > max) max = v;
        }
        var r = new float[count];
        double range = max - min;
        if (!(range > 0)) return r;
        double inv = 1 / range;
        for (int i = 0; i < count; i++)
        {
            float v = data[i];
            r[i] = float.IsFinite(v) ? (float)((v - min) * inv) : 0f;
        }
        return r;
    }

    private static double Normal(Random rng)
    {
        // Box-Muller from two uniforms in (0, 1].
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
