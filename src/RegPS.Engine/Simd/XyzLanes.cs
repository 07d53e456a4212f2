using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RegPS.Engine.Simd;

/// <summary>
/// Moving 3-component vectors between their storage layout (x, y, z interleaved per voxel) and SIMD lanes (one
/// vector of x, one of y, one of z for 4 or 8 voxels).
/// </summary>
internal static class XyzLanes
{
    /// <summary>The blended (x, y, z, _) rows of 8 voxels to their x, y and z vectors (res[0..2]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void LanesToComponents(Vector128<float>* lanes, Vector256<float>* res)
    {
        Transpose(lanes[0], lanes[1], lanes[2], lanes[3], out var x0, out var y0, out var z0);
        Transpose(lanes[4], lanes[5], lanes[6], lanes[7], out var x1, out var y1, out var z1);
        res[0] = Vector256.Create(x0, x1); res[1] = Vector256.Create(y0, y1); res[2] = Vector256.Create(z0, z1);
    }

    /// <summary>Rows (x, y, z, _) of 4 voxels to the x, y and z vectors of those voxels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Transpose(Vector128<float> r0, Vector128<float> r1, Vector128<float> r2, Vector128<float> r3,
        out Vector128<float> x, out Vector128<float> y, out Vector128<float> z)
    {
        var t0 = Sse.UnpackLow(r0, r1);   // x0 x1 y0 y1
        var t1 = Sse.UnpackLow(r2, r3);   // x2 x3 y2 y3
        var t2 = Sse.UnpackHigh(r0, r1);  // z0 z1 . .
        var t3 = Sse.UnpackHigh(r2, r3);  // z2 z3 . .
        x = Sse.MoveLowToHigh(t0, t1);
        y = Sse.MoveHighToLow(t1, t0);
        z = Sse.MoveLowToHigh(t2, t3);
    }

    /// <summary>The x, y and z vectors of 4 voxels to their rows (x, y, z, 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Untranspose(Vector128<float> x, Vector128<float> y, Vector128<float> z,
        out Vector128<float> r0, out Vector128<float> r1, out Vector128<float> r2, out Vector128<float> r3)
    {
        var t0 = Sse.UnpackLow(x, y);                         // x0 y0 x1 y1
        var t1 = Sse.UnpackHigh(x, y);                        // x2 y2 x3 y3
        var u0 = Sse.UnpackLow(z, Vector128<float>.Zero);     // z0 0 z1 0
        var u1 = Sse.UnpackHigh(z, Vector128<float>.Zero);    // z2 0 z3 0
        r0 = Sse.MoveLowToHigh(t0, u0);
        r1 = Sse.MoveHighToLow(u0, t0);
        r2 = Sse.MoveLowToHigh(t1, u1);
        r3 = Sse.MoveHighToLow(u1, t1);
    }

    /// <summary>
    /// For 8 float indices (lo: lanes 0-3, hi: 4-7) into base, the values at index and index + 1 as two vectors, from two
    /// 4-lane 64-bit gathers.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void PairGather(float* basePtr, Vector128<int> lo, Vector128<int> hi, Vector256<int> split,
        out Vector256<float> first, out Vector256<float> second)
    {
        // [a0 b0 a1 b1 a2 b2 a3 b3] -> [a0 a1 a2 a3 b0 b1 b2 b3]
        var g0 = Avx2.PermuteVar8x32(Avx2.GatherVector256((double*)basePtr, lo, 4).AsSingle(), split);
        var g1 = Avx2.PermuteVar8x32(Avx2.GatherVector256((double*)basePtr, hi, 4).AsSingle(), split);
        first = Avx2.Permute2x128(g0, g1, 0x20);
        second = Avx2.Permute2x128(g0, g1, 0x31);
    }
}
