using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using RegPS.Engine.Filters;
using RegPS.Engine.Parallel;

namespace RegPS.Engine.Fields;

/// <summary>
/// Gaussian smoothing of 3D fields of 3 interleaved float32 components (SyN's steps) that computes the filter exactly
/// only on every second slice and every second row and interpolates between them.
///
/// What it computes: on the coarse rows, at slices and rows k, j in {0, 2, 4, ...} plus the last one, every voxel of
/// the row holds scipy's gaussian_filter (sigma in voxels per axis, radius round(truncate sigma), mode 'reflect') of the
/// input, as <see cref="FieldSmoothing.Smooth(float[][], int, int, int, int, double[], int, double)"/> computes it (the
/// passes run z, y, x instead of x, y, z, so the float sums may differ in their last bits). The other rows are
/// interpolated from the coarse ones along y, then along z, each by the cubic through the 4 nearest coarse positions
/// (<see cref="Stencils"/>; (-1, 9, 9, -1)/16 in the interior). A Gaussian of sigma 5 voxels leaves little at the
/// frequencies a 2-voxel grid cannot carry: the cubic's error is about 1/sigma^4 of the field per interpolated axis
/// (0.15% at sigma 5, 1% at 3); DecimatedSmoothingTests measures 0.1-0.3% rms against the exact filter, and nine known
/// 2x2x3 mm warps register with the same error (0.1301 against 0.1300 mm).
///
/// Why it is fast: the z pass computes half the output slices, the y pass a quarter of the rows, the x pass the same
/// quarter: 31 taps x (1/2 + 1/4 + 1/4) instead of 31 x 3 per voxel, and the interpolation is 4 multiply-adds per
/// voxel and axis. Every pass is a struct row operation run by <see cref="SliceIterator"/>: the z pass one task per
/// field and y row (its column of rows gathered first), then one task per field and coarse slice for its y pass, its
/// rows' x passes (while in cache) and its interpolation along y, then one task per field and slice for the
/// interpolation along z. Every output depends only on the input, so the bits are the same at any thread count.
/// The scratch (3/4 of a field per field) is kept for the next call.
/// </summary>
internal sealed class DecimatedSmoothing
{
    /// <summary>
    /// The smallest sigma (voxels) SyN uses this for: the interpolation's error, relative to the smoothed field, is
    /// about 1/sigma^4 along each interpolated axis (0.15% at sigma 5, 1% at 3; 6% at DIPY's 2).
    /// </summary>
    public const double MinimumSigma = 3;

    private float[][] _slices = Array.Empty<float[]>(), _rows = Array.Empty<float[]>();

    /// <summary>How many coarse positions an axis of n voxels keeps: 0, 2, 4, ... and the last one.</summary>
    internal static int CoarseCount(int n) => n / 2 + 1;

    /// <summary>The voxel index of coarse position c on an axis of n voxels: 2c, the last one for the last c.</summary>
    internal static int Position(int c, int n) => Math.Min(2 * c, n - 1);

    /// <summary>Smooths each field (3 components per voxel, nx*ny*nz voxels, x fastest) in place.</summary>
    public void Smooth(float[][] fields, int nx, int ny, int nz, double[] sigma, double truncate, int maxDegree)
    {
        if (sigma.Length < 3 || !(sigma[0] > 0 && sigma[1] > 0 && sigma[2] > 0))
            throw new ArgumentException("Decimated smoothing needs a positive sigma along x, y and z.", nameof(sigma));
        const int comps = 3;
        int nf = fields.Length, rowLen = comps * nx;
        int mz = CoarseCount(nz), my = CoarseCount(ny);
        long sliceFloats = (long)mz * ny * rowLen, rowFloats = (long)mz * my * rowLen;
        if (_slices.Length < nf) { _slices = new float[nf][]; _rows = new float[nf][]; }
        for (int f = 0; f < nf; f++)
        {
            if (_slices[f] is null || _slices[f].LongLength < sliceFloats) _slices[f] = new float[sliceFloats];
            if (_rows[f] is null || _rows[f].LongLength < rowFloats) _rows[f] = new float[rowFloats];
        }
        var wx = FieldSmoothing.Weights(sigma[0], truncate);
        var wy = FieldSmoothing.Weights(sigma[1], truncate);
        var wz = FieldSmoothing.Weights(sigma[2], truncate);
        SliceIterator.Run(nf * ny, new ZPass(fields, _slices, nx, ny, nz, mz, wz), maxDegree);
        SliceIterator.Run(nf * mz, new YxPass(_slices, _rows, nx, ny, mz, my, wy, wx, Stencils(ny)), maxDegree);
        SliceIterator.Run(nf * nz, new ZInterpolation(_slices, fields, nx, ny, nz, Stencils(nz)), maxDegree);
    }

    /// <summary>
    /// z pass of field f's y row j, at the coarse slices only: slices[f][kc, j, :] = sum_t w[t] field[reflect(k + t), j, :]
    /// with k the coarse slice's index (contiguous rows of nx*3 floats, <see cref="FieldSmoothing.Convolve"/>).
    /// </summary>
    private readonly struct ZPass(float[][] fields, float[][] slices, int nx, int ny, int nz, int mz, float[] w) : IRowOperation
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        [SkipLocalsInit] // the offsets are written before they are read
        public void Invoke(int task)
        {
            int f = task / ny, j = task % ny;
            int rowLen = 3 * nx;
            int sliceLen = rowLen * ny;
            var src = fields[f];
            var dst = slices[f];
            // the y row's nz rows gathered into one block first: rows a slice apart have the same address modulo 4 KB
            // and evict each other from the L1 cache when the taps read them directly (measured: a fifth slower)
            var column = ArrayPool<float>.Shared.Rent(rowLen * nz);
            try
            {
                for (int k = 0; k < nz; k++) Array.Copy(src, k * sliceLen + j * rowLen, column, k * rowLen, rowLen);
                Span<int> offs = stackalloc int[w.Length];
                for (int kc = 0; kc < mz; kc++)
                {
                    int k = Position(kc, nz);
                    FieldSmoothing.ReflectedTaps(offs, k, nz, rowLen);
                    FieldSmoothing.Convolve(dst.AsSpan((kc * ny + j) * rowLen, rowLen), column, offs, w);
                }
            }
            finally { ArrayPool<float>.Shared.Return(column); }
        }
    }

    /// <summary>
    /// Coarse slice kc of field f: the y pass at the coarse rows (into rows[f][kc, jc, :]), each of those rows' x pass
    /// in place, then every row j of the slice written back into slices[f][kc, j, :]: the coarse rows copied, the others
    /// interpolated along y (<see cref="Stencils"/>). The slice's z-pass rows are all read before the first is overwritten.
    /// </summary>
    private readonly struct YxPass(float[][] slices, float[][] rows, int nx, int ny, int mz, int my, float[] wy, float[] wx, Stencil[] stencils) : IRowOperation
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        [SkipLocalsInit] // the offsets are written before they are read
        public void Invoke(int task)
        {
            int f = task / mz, kc = task % mz;
            int rowLen = 3 * nx;
            var s = slices[f];
            var q = rows[f];
            int sBase = kc * ny * rowLen, qBase = kc * my * rowLen;
            Span<int> offs = stackalloc int[wy.Length];
            for (int jc = 0; jc < my; jc++)
            {
                int j = Position(jc, ny);
                FieldSmoothing.ReflectedTaps(offs, j, ny, rowLen, sBase);
                int row = kc * my + jc;
                FieldSmoothing.Convolve(q.AsSpan(row * rowLen, rowLen), s, offs, wy);
                FieldSmoothing.SmoothXRow(q, 3, nx, row, wx, q.AsSpan(row * rowLen, rowLen));
            }
            for (int j = 0; j < ny; j++)
                Interpolate(q, qBase, rowLen, stencils[j], s.AsSpan(sBase + j * rowLen, rowLen));
        }
    }

    /// <summary>
    /// Slice k of field f from the coarse slices (each already interpolated along y): copied where k is a coarse slice,
    /// else interpolated along z (<see cref="Stencils"/>).
    /// </summary>
    private readonly struct ZInterpolation(float[][] slices, float[][] fields, int nx, int ny, int nz, Stencil[] stencils) : IRowOperation
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Invoke(int task)
        {
            int f = task / nz, k = task % nz;
            int sliceLen = 3 * nx * ny;
            Interpolate(slices[f], 0, sliceLen, stencils[k], fields[f].AsSpan(k * sliceLen, sliceLen));
        }
    }

    /// <summary>
    /// How fine position i of an axis is made from the coarse lines: the Lagrange polynomial through Count consecutive
    /// coarse positions from Start (weights W0..W3), evaluated at i. Coarse positions themselves are copied (Count 1).
    /// </summary>
    internal readonly record struct Stencil(int Start, int Count, float W0, float W1, float W2, float W3);

    /// <summary>
    /// The stencils of an axis of n voxels: each odd position between coarse ones takes the cubic through the 4 coarse
    /// positions nearest to it, two on each side ((-1, 9, 9, -1)/16 in the interior), or the 4 nearest at an end (the
    /// last coarse position may be 1 voxel from the one before it: the weights follow the positions); an axis with fewer
    /// than 4 coarse positions takes all of them.
    /// </summary>
    internal static Stencil[] Stencils(int n)
    {
        int m = CoarseCount(n);
        var result = new Stencil[n];
        Span<double> w = stackalloc double[4];
        for (int i = 0; i < n; i++)
        {
            if ((i & 1) == 0 || i == n - 1) { result[i] = new Stencil(i == n - 1 ? m - 1 : i / 2, 1, 1, 0, 0, 0); continue; }
            int count = Math.Min(4, m);
            int start = Math.Clamp(i / 2 - 1, 0, m - count);
            for (int q = 0; q < count; q++)
            {
                double xq = Position(start + q, n), l = 1;
                for (int p = 0; p < count; p++)
                    if (p != q) l *= (i - Position(start + p, n)) / (xq - Position(start + p, n));
                w[q] = l;
            }
            for (int q = count; q < 4; q++) w[q] = 0;
            result[i] = new Stencil(start, count, (float)w[0], (float)w[1], (float)w[2], (float)w[3]);
        }
        return result;
    }

    /// <summary>
    /// One line (len floats) from the coarse lines stored contiguously in src from base (coarse line c at base + c*len)
    /// with its stencil: a copy, or w0 a0 + w1 a1 + w2 a2 + w3 a3 (the terms a stencil has, in that order).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Interpolate(float[] src, int @base, int len, in Stencil st, Span<float> dst)
    {
        if (st.Count == 1)
        {
            src.AsSpan(@base + st.Start * len, len).CopyTo(dst);
            return;
        }
        ref float a0 = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(src), @base + st.Start * len);
        ref float a1 = ref Unsafe.Add(ref a0, len);
        // an absent third or fourth term has weight 0 and reads the second line again (always inside the array)
        ref float a2 = ref Unsafe.Add(ref a0, st.Count > 2 ? 2 * len : len);
        ref float a3 = ref Unsafe.Add(ref a0, st.Count > 3 ? 3 * len : len);
        float w0 = st.W0, w1 = st.W1, w2 = st.W2, w3 = st.W3;
        int m = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var v0 = new Vector<float>(w0); var v1 = new Vector<float>(w1);
            var v2 = new Vector<float>(w2); var v3 = new Vector<float>(w3);
            for (; m + Vector<float>.Count <= len; m += Vector<float>.Count)
            {
                var acc = v0 * Vector.LoadUnsafe(ref a0, (nuint)m) + v1 * Vector.LoadUnsafe(ref a1, (nuint)m);
                acc += v2 * Vector.LoadUnsafe(ref a2, (nuint)m);
                acc += v3 * Vector.LoadUnsafe(ref a3, (nuint)m);
                acc.CopyTo(dst.Slice(m));
            }
        }
        for (; m < len; m++)
        {
            float acc = w0 * Unsafe.Add(ref a0, m) + w1 * Unsafe.Add(ref a1, m);
            acc += w2 * Unsafe.Add(ref a2, m);
            acc += w3 * Unsafe.Add(ref a3, m);
            dst[m] = acc;
        }
    }
}
