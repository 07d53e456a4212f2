using System.Buffers;
using System.Runtime.CompilerServices;
using RegPS.Engine.Images;
using RegPS.Engine.Parallel;

namespace RegPS.Engine.Filters;

/// <summary>
/// Gaussian smoothing and decimation in one pass per axis: output sample i of an axis shrunk by s is
/// sum_t k[t] in[s i + t], with k the normalised Gaussian of <see cref="Gaussian.Kernel"/> (sigma in input voxels,
/// truncated at 4 sigma) and scipy's 'reflect' boundary. Only the kept samples are computed, so an axis shrunk by 2 costs
/// half a full smoothing pass and the later axes run on the already shrunk volume. The output grid keeps voxel 0 where
/// it was (grid-to-world times diag(s), as DIPY's pyramid), with floor((n - 1) / s) + 1 samples per axis. Every output
/// is summed in a fixed order: the result does not depend on the thread count.
/// </summary>
public static class GaussianDecimation
{
    /// <summary>Smooths <paramref name="data"/> on <paramref name="grid"/> with sigma[a] voxels and keeps every shrink[a]-th sample.</summary>
    public static (float[] Data, Grid Grid) Apply(float[] data, Grid grid, int[] shrink, double[] sigma, int maxDegree = 0)
    {
        int nx = grid.NX, ny = grid.NY, nz = grid.NZ;
        var cur = data;
        // x pass: rows of the input -> rows of the output.
        int ox = (nx - 1) / shrink[0] + 1;
        if (shrink[0] > 1 || sigma[0] > 0) { cur = Axis(cur, nx, ny * nz, ox, shrink[0], sigma[0], maxDegree, AxisKind.X, nx, ny); nx = ox; }
        int oy = (ny - 1) / shrink[1] + 1;
        if (shrink[1] > 1 || sigma[1] > 0) { cur = Axis(cur, ny, nz, oy, shrink[1], sigma[1], maxDegree, AxisKind.Y, nx, ny); ny = oy; }
        int oz = grid.Dimension == 2 ? 1 : (nz - 1) / shrink[2] + 1;
        if (grid.Dimension == 3 && (shrink[2] > 1 || sigma[2] > 0)) { cur = Axis(cur, nz, 1, oz, shrink[2], sigma[2], maxDegree, AxisKind.Z, nx, ny); nz = oz; }
        if (ReferenceEquals(cur, data)) cur = (float[])data.Clone();
        var g2w = grid.GridToWorld * Matrix4.Scaling(shrink[0], shrink[1], grid.Dimension == 2 ? 1 : shrink[2]);
        return (cur, new Grid(nx, ny, nz, g2w, grid.Dimension));
    }

    private enum AxisKind { X, Y, Z }

    /// <summary>
    /// One axis. X: rows (stride 1), <paramref name="lines"/> of them, 8 at a time as lanes. Y: per slice
    /// (<paramref name="lines"/> slices), rows of nx combined whole. Z: slices of nx*ny combined whole. The other axes
    /// keep their sizes. Sums in float32 SIMD lanes (<see cref="Lanes.Axpy"/>), fine for a normalised kernel of positive
    /// weights on [0, 1] data (each output is a sum of at most 2r + 1 terms, in tap order).
    /// </summary>
    private static float[] Axis(float[] src, int n, int lines, int outN, int s, double sigma, int maxDegree, AxisKind kind, int nx, int ny)
    {
        double[] k = sigma > 0 ? Gaussian.Kernel(sigma) : new[] { 1.0 };
        int r = k.Length / 2, taps = k.Length;
        // Reflected input index for every (output sample, tap).
        var idx = new int[outN * taps];
        for (int i = 0; i < outN; i++)
            for (int t = -r; t <= r; t++) idx[i * taps + t + r] = Gaussian.Reflect(s * i + t, n);
        var kf = k.Select(v => (float)v).ToArray();
        float[] dst;
        switch (kind)
        {
            case AxisKind.X:
            {
                // Blocks of 8 rows turned into 8 lanes (t[x * 8 + row]), so the row direction runs as whole-lane adds.
                const int R = 8;
                dst = new float[(long)outN * lines];
                int blocks = (lines + R - 1) / R;
                SliceIterator.For(blocks, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (blk) =>
                {
                    int r0 = blk * R, rows = Math.Min(R, lines - r0);
                    var t = ArrayPool<float>.Shared.Rent(n * R);
                    var o = ArrayPool<float>.Shared.Rent(outN * R);
                    try
                    {
                        Lanes.RowsToLanes(src, (long)r0 * n, n, rows, t, R);
                        Array.Clear(o, 0, outN * R);
                        for (int i = 0; i < outN; i++)
                        {
                            var oi = o.AsSpan(i * R, R);
                            int b = i * taps;
                            for (int q = 0; q < taps; q++) Lanes.Axpy(oi, t.AsSpan(idx[b + q] * R, R), kf[q]);
                        }
                        Lanes.LanesToRows(o, outN, rows, dst, (long)r0 * outN, R);
                    }
                    finally
                    {
                        ArrayPool<float>.Shared.Return(t);
                        ArrayPool<float>.Shared.Return(o);
                    }
                });
                return dst;
            }
            case AxisKind.Y:
                dst = new float[(long)nx * outN * lines];
                SliceIterator.For(lines, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (z) =>
                {
                    long a = (long)z * nx * n, b = (long)z * nx * outN;
                    for (int i = 0; i < outN; i++)
                    {
                        var o = dst.AsSpan((int)(b + (long)i * nx), nx);
                        for (int t = 0; t < taps; t++) Lanes.Axpy(o, src.AsSpan((int)(a + (long)idx[i * taps + t] * nx), nx), kf[t]);
                    }
                });
                return dst;
            default:
            {
                int plane = nx * ny;
                dst = new float[(long)plane * outN];
                // Output slices in blocks of rows, so two threads share even a single output slice.
                int rowsPerBlock = Math.Max(1, 4096 / nx);
                int blocksPerSlice = (ny + rowsPerBlock - 1) / rowsPerBlock;
                SliceIterator.For(outN * blocksPerSlice, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (job) =>
                {
                    int i = job / blocksPerSlice, rb = job % blocksPerSlice;
                    int y0 = rb * rowsPerBlock, width = Math.Min(ny, y0 + rowsPerBlock) * nx - y0 * nx;
                    var o = dst.AsSpan(i * plane + y0 * nx, width);
                    for (int t = 0; t < taps; t++) Lanes.Axpy(o, src.AsSpan(idx[i * taps + t] * plane + y0 * nx, width), kf[t]);
                });
                return dst;
            }
        }
    }
}
