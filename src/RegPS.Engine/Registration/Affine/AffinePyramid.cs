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
                    ? Resampler.Bilinear(sLevel, 0, lx, ly, x, y, Boundary.ZeroPadded)
                    : Resampler.Trilinear(sLevel, 0, lx, ly, lz, x, y, z, Boundary.ZeroPadded);
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
        return new AffineLevel { Static = samples, Moving = mFull, MovingMin = mMin, MovingMax = mMax, Factor = factor, Sigma = sigma };
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
