using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RegPS.Engine.Filters;

/// <summary>
/// Element-wise float32 operations on spans in SIMD lanes (<see cref="Vector{T}"/>: AVX2 on x64, NEON on arm64) with a
/// scalar tail. Each element gets the same two roundings (a product, then a sum; never fused) in the vector body and in
/// the tail, so results do not depend on where a span starts or how wide the vectors are.
/// </summary>
internal static class Lanes
{
    /// <summary>dst = src * s.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Scale(Span<float> src, Span<float> dst, float s)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vs = MemoryMarshal.Cast<float, Vector<float>>(src);
            var vd = MemoryMarshal.Cast<float, Vector<float>>(dst);
            for (int v = 0; v < vs.Length; v++) vd[v] = vs[v] * s;
            i = vs.Length * Vector<float>.Count;
        }
        for (; i < src.Length; i++) dst[i] = src[i] * s;
    }

    /// <summary>y += a * x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Axpy(Span<float> y, Span<float> x, float a)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vy = MemoryMarshal.Cast<float, Vector<float>>(y);
            var vx = MemoryMarshal.Cast<float, Vector<float>>(x);
            for (int v = 0; v < vy.Length; v++) vy[v] += vx[v] * a;
            i = vy.Length * Vector<float>.Count;
        }
        for (; i < y.Length; i++) y[i] += x[i] * a;
    }

    /// <summary>c = z * (next - c).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AntiCausal(Span<float> c, Span<float> next, float z)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vc = MemoryMarshal.Cast<float, Vector<float>>(c);
            var vn = MemoryMarshal.Cast<float, Vector<float>>(next);
            for (int v = 0; v < vc.Length; v++) vc[v] = (vn[v] - vc[v]) * z;
            i = vc.Length * Vector<float>.Count;
        }
        for (; i < c.Length; i++) c[i] = (next[i] - c[i]) * z;
    }

    /// <summary>
    /// Copies <paramref name="rows"/> consecutive rows of <paramref name="n"/> values (from <paramref name="start"/>)
    /// into lanes: dst[x * width + r] = src[start + r * n + x]; lanes past <paramref name="rows"/> are zeroed.
    /// </summary>
    public static void RowsToLanes(float[] src, long start, int n, int rows, float[] dst, int width)
    {
        if (rows < width) Array.Clear(dst, 0, n * width);
        for (int r = 0; r < rows; r++)
        {
            var row = src.AsSpan((int)(start + (long)r * n), n);
            for (int x = 0; x < n; x++) dst[x * width + r] = row[x];
        }
    }

    /// <summary>The inverse of <see cref="RowsToLanes"/>: dst[start + r * n + x] = src[x * width + r] for the first rows.</summary>
    public static void LanesToRows(float[] src, int n, int rows, float[] dst, long start, int width)
    {
        for (int r = 0; r < rows; r++)
        {
            var row = dst.AsSpan((int)(start + (long)r * n), n);
            for (int x = 0; x < n; x++) row[x] = src[x * width + r];
        }
    }
}
