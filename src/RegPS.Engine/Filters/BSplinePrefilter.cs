using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using RegPS.Engine.Parallel;

namespace RegPS.Engine.Filters;

/// <summary>
/// Cubic B-spline interpolation coefficients (Unser, Aldroubi &amp; Eden 1993, "B-spline signal processing"): the
/// coefficients c whose cubic B-spline sum passes through every sample. Per axis: multiply by the gain 6, then one causal
/// and one anti-causal first-order recursion with the pole z = sqrt(3) - 2, mirror-symmetric boundaries (the whole-sample
/// mirror d c b | a b c d | c b a, scipy.ndimage's 'mirror' spline mode). The causal start value sums the mirrored line
/// until z^k is below 1e-12. Every recursion runs many lines at once in float32 SIMD lanes (<see cref="Vector{T}"/>, so
/// x64 and arm64 both vectorise): y and z on whole rows or blocks of a slice, x on blocks of 8 rows copied into lanes. Each coefficient is the same arithmetic whichever lane or thread computes it: the result does not depend on the
/// thread count or the vector width. The recursion is stable (|z| &lt; 1), so float32 loses only float32 rounding.
/// </summary>
public static class BSplinePrefilter
{
    private const double Pole = -0.26794919243112270; // sqrt(3) - 2
    private static readonly int Horizon = (int)Math.Ceiling(Math.Log(1e-12) / Math.Log(-Pole));

    /// <summary>Cubic B-spline coefficients of a volume (x fastest); axes of length 1 are left alone.</summary>
    public static float[] Coefficients(float[] data, int nx, int ny, int nz, int maxDegree = 0)
    {
        var c = (float[])data.Clone();
        long plane = (long)nx * ny;
        if (nx > 1)
        {
            // Rows, 8 at a time turned into lanes (t[x * 8 + row]), so the x recursion runs as whole-lane operations too.
            const int R = 8;
            int lines = ny * nz, blocks = (lines + R - 1) / R;
            SliceIterator.For(blocks, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (blk) =>
            {
                int r0 = blk * R, rows = Math.Min(R, lines - r0);
                var t = ArrayPool<float>.Shared.Rent(nx * R);
                try
                {
                    Lanes.RowsToLanes(c, (long)r0 * nx, nx, rows, t, R);
                    Lines(t, 0, nx, R, R);
                    Lanes.LanesToRows(t, nx, rows, c, (long)r0 * nx, R);
                }
                finally { ArrayPool<float>.Shared.Return(t); }
            });
        }
        if (ny > 1)
            SliceIterator.For(nz, maxDegree, k => Lines(c, k * plane, ny, nx, nx));
        if (nz > 1)
        {
            // Columns along z in blocks of 2048 neighbouring (x, y) positions.
            const int block = 2048;
            int blocks = (int)((plane + block - 1) / block);
            SliceIterator.For(blocks, maxDegree, b =>
            {
                long start = (long)b * block;
                Lines(c, start, nz, plane, (int)Math.Min(block, plane - start));
            });
        }
        return c;
    }

    /// <summary>
    /// <paramref name="width"/> neighbouring lines of <paramref name="n"/> samples, sample k of line w at
    /// start + k * step + w, filtered in place, all lines advancing together (float32 lanes).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Lines(float[] a, long start, int n, long step, int width)
    {
        const float z = (float)Pole;
        const float gain = (float)((1 - Pole) * (1 - 1 / Pole));
        var span = a.AsSpan();
        int period = 2 * n - 2;
        var first = new float[width];
        // gain * (sum_k z^k s(mirror k)) for the causal start; the gain is applied to every sample on the way.
        Lanes.Scale(span.Slice((int)start, width), first, gain);
        float zk = z;
        for (int k = 1; k < Horizon; k++)
        {
            int m = k % period;
            if (m >= n) m = period - m;
            Lanes.Axpy(first, span.Slice((int)(start + m * step), width), zk * gain);
            zk *= z;
        }
        for (int k = 1; k < n; k++)
            Lanes.Scale(span.Slice((int)(start + k * step), width), span.Slice((int)(start + k * step), width), gain);
        first.CopyTo(span.Slice((int)start, width));
        for (int k = 1; k < n; k++)
            Lanes.Axpy(span.Slice((int)(start + k * step), width), span.Slice((int)(start + (k - 1) * step), width), z);
        // Anti-causal start for the mirror boundary: c-(n-1) = z / (z^2 - 1) (c+(n-1) + z c+(n-2)).
        const float f = (float)(Pole / (Pole * Pole - 1));
        var last = span.Slice((int)(start + (n - 1) * step), width);
        Lanes.Axpy(last, span.Slice((int)(start + (n - 2) * step), width), z);
        Lanes.Scale(last, last, f);
        for (int k = n - 2; k >= 0; k--)
            Lanes.AntiCausal(span.Slice((int)(start + k * step), width), span.Slice((int)(start + (k + 1) * step), width), z);
    }
}
