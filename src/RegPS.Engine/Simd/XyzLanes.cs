using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace RegPS.Engine.Simd;

/// <summary>Which code a kernel with vector paths runs (tests force each one to compare their bits).</summary>
internal enum VectorPath
{
    /// <summary>The widest vectors the hardware accelerates (256-bit on x64 with AVX2, else 128-bit), else scalar.</summary>
    Widest,
    /// <summary>The 128-bit path where the hardware has vectors (what arm64 runs), else scalar.</summary>
    Vector128,
    /// <summary>The scalar loop only.</summary>
    Scalar,
}

/// <summary>
/// Moving 3-component vectors between their storage layout (x, y, z interleaved per voxel) and SIMD lanes (one
/// vector of x, one of y, one of z for 4 or 8 voxels), and the few lane operations the cross-platform
/// <see cref="Vector128"/>/<see cref="Vector256"/> API lacks (two-source interleaves, gathers, float/double
/// conversions of a half-width vector). Each has the x64 instruction, the arm64 one where there is one, and a plain
/// fallback; all give the same bits, so the kernels above them give the same results on every platform.
/// </summary>
internal static class XyzLanes
{
    /// <summary>
    /// Whether the 128-bit kernels pay off: vectors of 128 bits with a hardware fused multiply-add (arm64 NEON; x64 with
    /// FMA). Without FMA (x64 before Haswell, or DOTNET_EnableAVX2=0, which turns FMA off too) the fused product-sums
    /// the kernels need run in software, several times slower than the scalar loops, so those loops run instead.
    /// </summary>
    internal static bool Vector128Kernels => Vector128.IsHardwareAccelerated && (Fma.IsSupported || AdvSimd.Arm64.IsSupported);

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
        var t0 = UnpackLow(r0, r1);   // x0 x1 y0 y1
        var t1 = UnpackLow(r2, r3);   // x2 x3 y2 y3
        var t2 = UnpackHigh(r0, r1);  // z0 z1 . .
        var t3 = UnpackHigh(r2, r3);  // z2 z3 . .
        x = MoveLowToHigh(t0, t1);
        y = MoveHighToLow(t1, t0);
        z = MoveLowToHigh(t2, t3);
    }

    /// <summary>The x, y and z vectors of 4 voxels to their rows (x, y, z, 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Untranspose(Vector128<float> x, Vector128<float> y, Vector128<float> z,
        out Vector128<float> r0, out Vector128<float> r1, out Vector128<float> r2, out Vector128<float> r3)
    {
        var t0 = UnpackLow(x, y);                         // x0 y0 x1 y1
        var t1 = UnpackHigh(x, y);                        // x2 y2 x3 y3
        var u0 = UnpackLow(z, Vector128<float>.Zero);     // z0 0 z1 0
        var u1 = UnpackHigh(z, Vector128<float>.Zero);    // z2 0 z3 0
        r0 = MoveLowToHigh(t0, u0);
        r1 = MoveHighToLow(u0, t0);
        r2 = MoveLowToHigh(t1, u1);
        r3 = MoveHighToLow(u1, t1);
    }

    /// <summary>
    /// For 8 float indices (lo: lanes 0-3, hi: 4-7) into base, the values at index and index + 1 as two vectors (AVX2: two
    /// 4-lane 64-bit gathers and two permutes; elsewhere 16 loads).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void PairGather(float* basePtr, Vector128<int> lo, Vector128<int> hi,
        out Vector256<float> first, out Vector256<float> second)
    {
        if (Avx2.IsSupported)
        {
            // [a0 b0 a1 b1 a2 b2 a3 b3] -> [a0 a1 a2 a3 b0 b1 b2 b3]
            var split = Vector256.Create(0, 2, 4, 6, 1, 3, 5, 7);
            var g0 = Avx2.PermuteVar8x32(Avx2.GatherVector256((double*)basePtr, lo, 4).AsSingle(), split);
            var g1 = Avx2.PermuteVar8x32(Avx2.GatherVector256((double*)basePtr, hi, 4).AsSingle(), split);
            first = Avx2.Permute2x128(g0, g1, 0x20);
            second = Avx2.Permute2x128(g0, g1, 0x31);
            return;
        }
        float* p0 = basePtr + lo.GetElement(0), p1 = basePtr + lo.GetElement(1), p2 = basePtr + lo.GetElement(2), p3 = basePtr + lo.GetElement(3);
        float* p4 = basePtr + hi.GetElement(0), p5 = basePtr + hi.GetElement(1), p6 = basePtr + hi.GetElement(2), p7 = basePtr + hi.GetElement(3);
        first = Vector256.Create(*p0, *p1, *p2, *p3, *p4, *p5, *p6, *p7);
        second = Vector256.Create(p0[1], p1[1], p2[1], p3[1], p4[1], p5[1], p6[1], p7[1]);
    }

    /// <summary>The 8 floats at base + index * 4 bytes (AVX2: one gather; elsewhere 8 loads).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe Vector256<float> Gather(float* basePtr, Vector256<int> index)
    {
        if (Avx2.IsSupported) return Avx2.GatherVector256(basePtr, index, 4);
        return Vector256.Create(basePtr[index.GetElement(0)], basePtr[index.GetElement(1)], basePtr[index.GetElement(2)], basePtr[index.GetElement(3)],
            basePtr[index.GetElement(4)], basePtr[index.GetElement(5)], basePtr[index.GetElement(6)], basePtr[index.GetElement(7)]);
    }

    /// <summary>The 4 doubles at base + index * 8 bytes (AVX2: one gather; elsewhere 4 loads).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe Vector256<double> Gather(double* basePtr, Vector128<int> index)
    {
        if (Avx2.IsSupported) return Avx2.GatherVector256(basePtr, index, 8);
        return Vector256.Create(basePtr[index.GetElement(0)], basePtr[index.GetElement(1)], basePtr[index.GetElement(2)], basePtr[index.GetElement(3)]);
    }

    /// <summary>4 floats to 4 doubles (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<double> ToDouble(Vector128<float> v)
        => Avx.IsSupported ? Avx.ConvertToVector256Double(v) : Vector256.Create(Vector128.WidenLower(v), Vector128.WidenUpper(v));

    /// <summary>4 doubles to 4 floats, each rounded to nearest.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> ToSingle(Vector256<double> v)
        => Avx.IsSupported ? Avx.ConvertToVector128Single(v) : Vector128.Narrow(v.GetLower(), v.GetUpper());

    /// <summary>[a0 b0 a1 b1].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> UnpackLow(Vector128<float> a, Vector128<float> b)
    {
        if (Sse.IsSupported) return Sse.UnpackLow(a, b);
        if (AdvSimd.Arm64.IsSupported) return AdvSimd.Arm64.ZipLow(a, b);
        return Vector128.Create(a.GetElement(0), b.GetElement(0), a.GetElement(1), b.GetElement(1));
    }

    /// <summary>[a2 b2 a3 b3].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> UnpackHigh(Vector128<float> a, Vector128<float> b)
    {
        if (Sse.IsSupported) return Sse.UnpackHigh(a, b);
        if (AdvSimd.Arm64.IsSupported) return AdvSimd.Arm64.ZipHigh(a, b);
        return Vector128.Create(a.GetElement(2), b.GetElement(2), a.GetElement(3), b.GetElement(3));
    }

    /// <summary>[a0 a1 b0 b1].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> MoveLowToHigh(Vector128<float> a, Vector128<float> b)
    {
        if (Sse.IsSupported) return Sse.MoveLowToHigh(a, b);
        if (AdvSimd.Arm64.IsSupported) return AdvSimd.Arm64.ZipLow(a.AsDouble(), b.AsDouble()).AsSingle();
        return Vector128.Create(a.GetElement(0), a.GetElement(1), b.GetElement(0), b.GetElement(1));
    }

    /// <summary>[b2 b3 a2 a3].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> MoveHighToLow(Vector128<float> a, Vector128<float> b)
    {
        if (Sse.IsSupported) return Sse.MoveHighToLow(a, b);
        if (AdvSimd.Arm64.IsSupported) return AdvSimd.Arm64.ZipHigh(b.AsDouble(), a.AsDouble()).AsSingle();
        return Vector128.Create(b.GetElement(2), b.GetElement(3), a.GetElement(2), a.GetElement(3));
    }

    /// <summary>a * b + c with one rounding (FMA on x64 and arm64; the exact software product-sum elsewhere: same bits).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> MulAdd(Vector128<float> a, Vector128<float> b, Vector128<float> c) => Vector128.FusedMultiplyAdd(a, b, c);

    /// <inheritdoc cref="MulAdd(Vector128{float}, Vector128{float}, Vector128{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> MulAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);

    /// <summary>The low 32 bits of each lane's product.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> MulLo(Vector256<int> a, Vector256<int> b) => a * b;
}
