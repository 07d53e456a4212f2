using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RegPS.Engine.Images;
using RegPS.Engine.Parallel;
using RegPS.Engine.Resampling;
using RegPS.Engine.Simd;
using static RegPS.Engine.Simd.XyzLanes;

namespace RegPS.Engine.Fields;

/// <summary>
/// Composition of displacement fields, comp(x) = d1(x) + t d2(x + d1(x)) (DIPY's compose_vector_fields), the kernel
/// SyN spends most of its time in: every step update and every fixed-point inversion iteration is one composition.
/// Working fields hold 3 interleaved float32 world-mm components per voxel, x fastest (see <see cref="FieldGrid"/>).
/// Every kernel runs as a struct row operation over the rows (j, k) of the field grid through
/// <see cref="SliceIterator.Run{T}"/>; each output voxel depends only on the inputs, and reductions keep one partial
/// per row, combined in row order afterwards, so results are bit-identical at any thread count.
/// The vector path (8 voxels at a time) computes in float with fused multiply-adds; the scalar path in double.
/// </summary>
internal static class FieldComposition
{
    /// <summary>
    /// comp(x) = d1(x) + t * d2(x + d1(x)) (DIPY's compose_vector_fields with both fields on grid g): the point
    /// x + d1(x) is taken to voxel units with W and d2 is interpolated there; off-domain points give comp = 0 (DIPY).
    /// comp may be d1 (in-place update) but not d2. Per-row partials of the voxel norms of comp (sum, max) are written
    /// when the arrays are given. One pass, O(1) per voxel.
    /// </summary>
    public static void Compose(float[] d1, float[] d2, FieldGrid g, double t, float[] comp, double[]? rowSum, double[]? rowMax, int maxDegree,
        VectorPath path = VectorPath.Widest)
        => SliceIterator.Run(g.Rows, new Rows(d1, d2, g, t, comp, rowSum, rowMax, path), maxDegree);

    private readonly struct Rows(float[] d1, float[] d2, FieldGrid g, double t, float[] comp, double[]? rowSum, double[]? rowMax, VectorPath path) : IRowOperation
    {
        public void Invoke(int r) => Row(r, d1, d2, g, t, comp, rowSum, rowMax, path);
    }

    /// <summary>One row of <see cref="Compose"/>: the vector path for as much of the row as it takes, then the scalar loop.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Row(int r, float[] d1, float[] d2, FieldGrid g, double t, float[] comp, double[]? rowSum, double[]? rowMax, VectorPath path = VectorPath.Widest)
    {
        int nx = g.NX, ny = g.NY, nz = g.NZ;
        var w = g.W;
        double w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7], w8 = w[8];
        bool stats = rowSum is not null;
        int j = r % ny, k = r / ny;
        double sum = 0, max = 0;
        int start = path == VectorPath.Scalar || nx < 8 ? 0
            : path == VectorPath.Widest && Vector256.IsHardwareAccelerated ? RowSimd(r, d1, d2, g, t, comp, stats, ref sum, ref max)
            : Vector128Kernels ? RowSimd128(r, d1, d2, g, t, comp, stats, ref sum, ref max)
            : 0;
        int o = 3 * (r * nx + start);
        for (int i = start; i < nx; i++, o += 3)
        {
            double ax = d1[o], ay = d1[o + 1], az = d1[o + 2];
            double x = i + w0 * ax + w1 * ay + w2 * az;
            double y = j + w3 * ax + w4 * ay + w5 * az;
            double z = k + w6 * ax + w7 * ay + w8 * az;
            if (Linear.FieldInside(d2, nx, ny, nz, x, y, z, out double bx, out double by, out double bz))
            {
                float cx = (float)(ax + t * bx), cy = (float)(ay + t * by), cz = (float)(az + t * bz);
                comp[o] = cx; comp[o + 1] = cy; comp[o + 2] = cz;
                if (stats)
                {
                    double vx = w0 * cx + w1 * cy + w2 * cz, vy = w3 * cx + w4 * cy + w5 * cz, vz = w6 * cx + w7 * cy + w8 * cz;
                    double nrm = Math.Sqrt(vx * vx + vy * vy + vz * vz);
                    sum += nrm;
                    if (nrm > max) max = nrm;
                }
            }
            else
            {
                comp[o] = 0; comp[o + 1] = 0; comp[o + 2] = 0;
            }
        }
        if (stats) { rowSum![r] = sum; rowMax![r] = max; }
    }

    /// <summary>
    /// AVX2 composition of 8 consecutive voxels at a time (the row's last group ends on its last voxel, so the whole row
    /// is done here; FMA lerps; 2D rows blend 4 corners instead of 8): reads d1's 8 vectors
    /// (Vector128 loads + transposes; strided gathers for the array's last group), forms the 8 sample points in float,
    /// fetches each voxel's 8 corners from d2 as Vector128 loads of xyz (corner indices clamped into the grid; off-domain
    /// lanes are masked to 0 afterwards; 24 float gathers only for the array's last voxels) and blends them with 7 lerps.
    /// Float arithmetic (the scalar path uses double): results agree with it to float rounding, and are the same at
    /// any thread count. Returns the number of voxels done (nx); their norm statistics are added to sum (8 lane partials
    /// combined in a fixed order at the end of the row, then the last group's new lanes) and max.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit] // its stack buffers (about 700 bytes) are written before they are read; zeroing them cost 10% on 64-voxel rows
    private static unsafe int RowSimd(int r, float[] d1, float[] d2, FieldGrid g, double t, float[] comp, bool stats, ref double sum, ref double max)
    {
        int nx = g.NX, ny = g.NY, nz = g.NZ;
        int j = r % ny, k = r / ny;
        var w = g.W;
        var w0 = Vector256.Create((float)w[0]); var w1 = Vector256.Create((float)w[1]); var w2 = Vector256.Create((float)w[2]);
        var w3 = Vector256.Create((float)w[3]); var w4 = Vector256.Create((float)w[4]); var w5 = Vector256.Create((float)w[5]);
        var w6 = Vector256.Create((float)w[6]); var w7 = Vector256.Create((float)w[7]); var w8 = Vector256.Create((float)w[8]);
        var stride3 = Vector256.Create(0, 3, 6, 9, 12, 15, 18, 21);
        var lane = Vector256.Create(0f, 1, 2, 3, 4, 5, 6, 7);
        var zero = Vector256<float>.Zero;
        var xmax = Vector256.Create((float)(nx - 1)); var ymax = Vector256.Create((float)(ny - 1)); var zmax = Vector256.Create((float)(nz - 1));
        var ixmax = Vector256.Create(nx - 1); var iymax = Vector256.Create(ny - 1); var izmax = Vector256.Create(nz - 1);
        var vnx = Vector256.Create(nx); var vny = Vector256.Create(ny); var one = Vector256.Create(1);
        var vt = Vector256.Create((float)t);
        var fj = Vector256.Create((float)j); var fk = Vector256.Create((float)k);
        float* ox = stackalloc float[8]; float* oy = stackalloc float[8]; float* oz = stackalloc float[8]; float* on = stackalloc float[8];
        var res = stackalloc Vector256<float>[3];
        var lanes = stackalloc Vector128<float>[8];
        int* cb = stackalloc int[64]; float* fb = stackalloc float[24];
        double tailSum = 0, tailMax = 0;
        var vlast = Vector256.Create(d2.Length - 3);
        int o010 = 3 * nx, o100 = 3 * nx * ny, o110 = o100 + o010;
        var vlast111 = Vector256.Create(d2.Length - 3 - (o110 + 3));
        bool twoD = nz == 1;
        var vlast11 = Vector256.Create(d2.Length - 3 - (o010 + 3));
        var vsum0 = Vector256<double>.Zero; var vsum1 = Vector256<double>.Zero; var vmax = Vector256<float>.Zero;
        fixed (float* pd1 = d1, pd2 = d2, pc = comp)
        {
            for (int i0g = 0; i0g < nx; i0g += 8)
            {
                // the row's last group is shifted back to end on the row's last voxel; its lanes before `first` were
                // done by the previous group and are computed again but neither stored nor counted (when comp is d1
                // they may read updated values, which only those discarded lanes use)
                int i = Math.Min(i0g, nx - 8), first = i0g - i;
                int o = 3 * (r * nx + i);
                // d1's 8 voxels: 8 Vector128 loads (xyz plus the next float) and two transposes when the last load
                // stays inside the array, else 3 strided gathers (same values either way)
                bool direct = o + 24 < d1.Length;
                Vector256<float> ax, ay, az;
                if (direct)
                {
                    float* s1 = pd1 + o;
                    Transpose(Vector128.Load(s1), Vector128.Load(s1 + 3), Vector128.Load(s1 + 6), Vector128.Load(s1 + 9), out var ax0, out var ay0, out var az0);
                    Transpose(Vector128.Load(s1 + 12), Vector128.Load(s1 + 15), Vector128.Load(s1 + 18), Vector128.Load(s1 + 21), out var ax1, out var ay1, out var az1);
                    ax = Vector256.Create(ax0, ax1); ay = Vector256.Create(ay0, ay1); az = Vector256.Create(az0, az1);
                }
                else
                {
                    ax = Gather(pd1 + o, stride3);
                    ay = Gather(pd1 + o + 1, stride3);
                    az = Gather(pd1 + o + 2, stride3);
                }
                var x = MulAdd(w2, az, MulAdd(w1, ay, MulAdd(w0, ax, Vector256.Create((float)i) + lane)));
                var y = MulAdd(w5, az, MulAdd(w4, ay, MulAdd(w3, ax, fj)));
                var z = MulAdd(w8, az, MulAdd(w7, ay, MulAdd(w6, ax, fk)));
                var inside = Vector256.GreaterThanOrEqual(x, zero) & Vector256.LessThanOrEqual(x, xmax)
                           & Vector256.GreaterThanOrEqual(y, zero) & Vector256.LessThanOrEqual(y, ymax)
                           & Vector256.GreaterThanOrEqual(z, zero) & Vector256.LessThanOrEqual(z, zmax);
                // raw vminps/vmaxps/vcvttps2dq: the values are finite and clamped to [0, n-1], so the IEEE-exact
                // Vector256.Min/Max and the saturating conversion would only add instructions
                x = Vector256.MinNative(Vector256.MaxNative(x, zero), xmax);
                y = Vector256.MinNative(Vector256.MaxNative(y, zero), ymax);
                z = Vector256.MinNative(Vector256.MaxNative(z, zero), zmax);
                var i0 = Vector256.ConvertToInt32Native(x); var j0 = Vector256.ConvertToInt32Native(y); var k0 = Vector256.ConvertToInt32Native(z);
                var fx = x - Vector256.ConvertToSingle(i0); var fy = y - Vector256.ConvertToSingle(j0); var fz = z - Vector256.ConvertToSingle(k0);
                var i1 = Vector256.Min(i0 + one, ixmax); var j1 = Vector256.Min(j0 + one, iymax); var k1 = Vector256.Min(k0 + one, izmax);
                var r00 = MulLo(MulLo(k0, vny) + j0, vnx);
                var c000 = (r00 + i0) * 3;
                var interior = Vector256.LessThan(i0, ixmax) & Vector256.LessThan(j0, iymax) & Vector256.LessThan(k0, izmax) & Vector256.LessThan(c000, vlast111);
                if (interior.ExtractMostSignificantBits() == 0xFF)
                {
                    // No corner clamped in any lane: the corners are fixed offsets from c000, and two voxels share one
                    // Vector256 (lanes 0-3 and 4-7) in the blend; the same per-lane operations as the paths below.
                    c000.Store(cb);
                    fx.Store(fb); fy.Store(fb + 8); fz.Store(fb + 16);
                    for (int l = 0; l < 8; l += 2)
                    {
                        float* pa = pd2 + cb[l]; float* pb = pd2 + cb[l + 1];
                        var sx = Vector256.Create(Vector128.Create(fb[l]), Vector128.Create(fb[l + 1]));
                        var sy = Vector256.Create(Vector128.Create(fb[8 + l]), Vector128.Create(fb[9 + l]));
                        var sz = Vector256.Create(Vector128.Create(fb[16 + l]), Vector128.Create(fb[17 + l]));
                        var v000 = Vector256.Create(Vector128.Load(pa), Vector128.Load(pb));
                        var v001 = Vector256.Create(Vector128.Load(pa + 3), Vector128.Load(pb + 3));
                        var v010 = Vector256.Create(Vector128.Load(pa + o010), Vector128.Load(pb + o010));
                        var v011 = Vector256.Create(Vector128.Load(pa + o010 + 3), Vector128.Load(pb + o010 + 3));
                        var v100 = Vector256.Create(Vector128.Load(pa + o100), Vector128.Load(pb + o100));
                        var v101 = Vector256.Create(Vector128.Load(pa + o100 + 3), Vector128.Load(pb + o100 + 3));
                        var v110 = Vector256.Create(Vector128.Load(pa + o110), Vector128.Load(pb + o110));
                        var v111 = Vector256.Create(Vector128.Load(pa + o110 + 3), Vector128.Load(pb + o110 + 3));
                        var a0 = MulAdd(sx, v001 - v000, v000); var a1 = MulAdd(sx, v011 - v010, v010);
                        var a2 = MulAdd(sx, v101 - v100, v100); var a3 = MulAdd(sx, v111 - v110, v110);
                        var b0 = MulAdd(sy, a1 - a0, a0); var b1 = MulAdd(sy, a3 - a2, a2);
                        var two = MulAdd(sz, b1 - b0, b0);
                        lanes[l] = two.GetLower(); lanes[l + 1] = two.GetUpper();
                    }
                    LanesToComponents(lanes, res);
                    goto blended;
                }
                if (twoD && (Vector256.LessThan(i0, ixmax) & Vector256.LessThan(j0, iymax) & Vector256.LessThan(c000, vlast11)).ExtractMostSignificantBits() == 0xFF)
                {
                    // 2D (nz = 1, z = 0): the 4 corners of the bilinear blend, two voxels per Vector256 as above; the
                    // paths below would blend each corner with itself along z and add 0
                    c000.Store(cb);
                    fx.Store(fb); fy.Store(fb + 8);
                    for (int l = 0; l < 8; l += 2)
                    {
                        float* pa = pd2 + cb[l]; float* pb = pd2 + cb[l + 1];
                        var sx = Vector256.Create(Vector128.Create(fb[l]), Vector128.Create(fb[l + 1]));
                        var sy = Vector256.Create(Vector128.Create(fb[8 + l]), Vector128.Create(fb[9 + l]));
                        var v000 = Vector256.Create(Vector128.Load(pa), Vector128.Load(pb));
                        var v001 = Vector256.Create(Vector128.Load(pa + 3), Vector128.Load(pb + 3));
                        var v010 = Vector256.Create(Vector128.Load(pa + o010), Vector128.Load(pb + o010));
                        var v011 = Vector256.Create(Vector128.Load(pa + o010 + 3), Vector128.Load(pb + o010 + 3));
                        var a0 = MulAdd(sx, v001 - v000, v000); var a1 = MulAdd(sx, v011 - v010, v010);
                        var b0 = MulAdd(sy, a1 - a0, a0);
                        lanes[l] = b0.GetLower(); lanes[l + 1] = b0.GetUpper();
                    }
                    LanesToComponents(lanes, res);
                    goto blended;
                }
                var r01 = MulLo(MulLo(k0, vny) + j1, vnx);
                var r10 = MulLo(MulLo(k1, vny) + j0, vnx);
                var r11 = MulLo(MulLo(k1, vny) + j1, vnx);
                var c001 = (r00 + i1) * 3; var c010 = (r01 + i0) * 3; var c011 = (r01 + i1) * 3;
                var c100 = (r10 + i0) * 3; var c101 = (r10 + i1) * 3; var c110 = (r11 + i0) * 3; var c111 = (r11 + i1) * 3;
                if (Vector256.LessThanAll(c111, vlast))
                {
                    // Every corner's 3 components (plus one neighbouring float, unused) as one Vector128 load: 64 loads
                    // per 8 voxels instead of 24 gathers. The blend is the gather path's, lane by lane, then a 4x4
                    // transpose per half gives the per-component vectors, so both paths give the same bits.
                    c000.Store(cb); c001.Store(cb + 8); c010.Store(cb + 16); c011.Store(cb + 24);
                    c100.Store(cb + 32); c101.Store(cb + 40); c110.Store(cb + 48); c111.Store(cb + 56);
                    fx.Store(fb); fy.Store(fb + 8); fz.Store(fb + 16);
                    for (int l = 0; l < 8; l++)
                    {
                        var sx = Vector128.Create(fb[l]); var sy = Vector128.Create(fb[8 + l]); var sz = Vector128.Create(fb[16 + l]);
                        var v000 = Vector128.Load(pd2 + cb[l]); var v001 = Vector128.Load(pd2 + cb[8 + l]);
                        var v010 = Vector128.Load(pd2 + cb[16 + l]); var v011 = Vector128.Load(pd2 + cb[24 + l]);
                        var v100 = Vector128.Load(pd2 + cb[32 + l]); var v101 = Vector128.Load(pd2 + cb[40 + l]);
                        var v110 = Vector128.Load(pd2 + cb[48 + l]); var v111 = Vector128.Load(pd2 + cb[56 + l]);
                        var a0 = MulAdd(sx, v001 - v000, v000); var a1 = MulAdd(sx, v011 - v010, v010);
                        var a2 = MulAdd(sx, v101 - v100, v100); var a3 = MulAdd(sx, v111 - v110, v110);
                        var b0 = MulAdd(sy, a1 - a0, a0); var b1 = MulAdd(sy, a3 - a2, a2);
                        lanes[l] = MulAdd(sz, b1 - b0, b0);
                    }
                    LanesToComponents(lanes, res);
                }
                else for (int c = 0; c < 3; c++)
                {
                    float* b = pd2 + c;
                    var v000 = Gather(b, c000); var v001 = Gather(b, c001);
                    var v010 = Gather(b, c010); var v011 = Gather(b, c011);
                    var v100 = Gather(b, c100); var v101 = Gather(b, c101);
                    var v110 = Gather(b, c110); var v111 = Gather(b, c111);
                    var a0 = MulAdd(fx, v001 - v000, v000); var a1 = MulAdd(fx, v011 - v010, v010);
                    var a2 = MulAdd(fx, v101 - v100, v100); var a3 = MulAdd(fx, v111 - v110, v110);
                    var b0 = MulAdd(fy, a1 - a0, a0); var b1 = MulAdd(fy, a3 - a2, a2);
                    res[c] = MulAdd(fz, b1 - b0, b0);
                }
            blended:
                var m = inside.AsSingle();
                var cx = Vector256.BitwiseAnd(MulAdd(vt, res[0], ax), m);
                var cy = Vector256.BitwiseAnd(MulAdd(vt, res[1], ay), m);
                var cz = Vector256.BitwiseAnd(MulAdd(vt, res[2], az), m);
                float* dst = pc + o;
                if (first > 0)
                {
                    cx.Store(ox); cy.Store(oy); cz.Store(oz);
                    for (int l = first; l < 8; l++) { dst[3 * l] = ox[l]; dst[3 * l + 1] = oy[l]; dst[3 * l + 2] = oz[l]; }
                    if (stats)
                    {
                        var vx = w0 * cx + w1 * cy + w2 * cz; var vy = w3 * cx + w4 * cy + w5 * cz; var vz = w6 * cx + w7 * cy + w8 * cz;
                        Vector256.Sqrt(vx * vx + vy * vy + vz * vz).Store(on);
                        for (int l = first; l < 8; l++) { tailSum += on[l]; if (on[l] > tailMax) tailMax = on[l]; }
                    }
                    continue;
                }
                if (direct)
                {
                    // back to xyz rows; each 4-float store also writes the next voxel's x, which the next store (or
                    // the scalar stores of the last voxel) overwrites: every d1 value was read above, so comp may be d1
                    Untranspose(cx.GetLower(), cy.GetLower(), cz.GetLower(), out var r0, out var r1, out var r2, out var r3);
                    r0.Store(dst); r1.Store(dst + 3); r2.Store(dst + 6); r3.Store(dst + 9);
                    Untranspose(cx.GetUpper(), cy.GetUpper(), cz.GetUpper(), out r0, out r1, out r2, out r3);
                    r0.Store(dst + 12); r1.Store(dst + 15); r2.Store(dst + 18);
                    dst[21] = r3.GetElement(0); dst[22] = r3.GetElement(1); dst[23] = r3.GetElement(2);
                }
                else
                {
                    cx.Store(ox); cy.Store(oy); cz.Store(oz);
                    for (int l = 0; l < 8; l++) { dst[3 * l] = ox[l]; dst[3 * l + 1] = oy[l]; dst[3 * l + 2] = oz[l]; }
                }
                if (stats)
                {
                    var vx = w0 * cx + w1 * cy + w2 * cz; var vy = w3 * cx + w4 * cy + w5 * cz; var vz = w6 * cx + w7 * cy + w8 * cz;
                    var nv = Vector256.Sqrt(vx * vx + vy * vy + vz * vz);
                    var (lo, hi) = Vector256.Widen(nv);
                    vsum0 += lo; vsum1 += hi;
                    vmax = Vector256.MaxNative(vmax, nv);
                }
            }
        }
        if (stats)
        {
            // lane partial sums, combined in a fixed order (the same at any thread count); the max is exact
            var ts = vsum0 + vsum1;
            sum += (ts.GetElement(0) + ts.GetElement(1)) + (ts.GetElement(2) + ts.GetElement(3)) + tailSum;
            for (int l = 0; l < 8; l++) if (vmax.GetElement(l) > max) max = vmax.GetElement(l);
            if (tailMax > max) max = tailMax;
        }
        return nx;
    }

    /// <summary>
    /// <see cref="RowSimd"/> for hardware whose vectors are 128 bits (arm64 NEON; x64 without AVX2): the same groups of
    /// 8 voxels (the row's last group shifted back the same way), each taken as two halves of 4 lanes, with the same
    /// per-lane float operations, the same choice of blend per group and the same order of the norm sums, so it gives
    /// RowSimd's bits. Corners are Vector128 loads of xyz where the 4th float stays inside the array, else built from
    /// the 3 floats.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    private static unsafe int RowSimd128(int r, float[] d1, float[] d2, FieldGrid g, double t, float[] comp, bool stats, ref double sum, ref double max)
    {
        int nx = g.NX, ny = g.NY, nz = g.NZ;
        int j = r % ny, k = r / ny;
        var w = g.W;
        var w0 = Vector128.Create((float)w[0]); var w1 = Vector128.Create((float)w[1]); var w2 = Vector128.Create((float)w[2]);
        var w3 = Vector128.Create((float)w[3]); var w4 = Vector128.Create((float)w[4]); var w5 = Vector128.Create((float)w[5]);
        var w6 = Vector128.Create((float)w[6]); var w7 = Vector128.Create((float)w[7]); var w8 = Vector128.Create((float)w[8]);
        var zero = Vector128<float>.Zero;
        var xmax = Vector128.Create((float)(nx - 1)); var ymax = Vector128.Create((float)(ny - 1)); var zmax = Vector128.Create((float)(nz - 1));
        var ixmax = Vector128.Create(nx - 1); var iymax = Vector128.Create(ny - 1); var izmax = Vector128.Create(nz - 1);
        var vnx = Vector128.Create(nx); var vny = Vector128.Create(ny); var one = Vector128.Create(1);
        var vt = Vector128.Create((float)t);
        var fj = Vector128.Create((float)j); var fk = Vector128.Create((float)k);
        var lane0 = Vector128.Create(0f, 1, 2, 3); var lane1 = Vector128.Create(4f, 5, 6, 7);
        int o010 = 3 * nx, o100 = 3 * nx * ny, o110 = o100 + o010;
        int lastLoad = d2.Length - 3;
        var vlast111 = Vector128.Create(lastLoad - (o110 + 3)); var vlast11 = Vector128.Create(lastLoad - (o010 + 3));
        bool twoD = nz == 1;
        int* cb = stackalloc int[64]; float* fb = stackalloc float[24]; float* on = stackalloc float[8];
        var blended = stackalloc Vector128<float>[8];
        var ax = stackalloc Vector128<float>[2]; var ay = stackalloc Vector128<float>[2]; var az = stackalloc Vector128<float>[2];
        var ins = stackalloc Vector128<float>[2];
        var s0a = Vector128<double>.Zero; var s0b = Vector128<double>.Zero; var s1a = Vector128<double>.Zero; var s1b = Vector128<double>.Zero;
        var vmax = Vector128<float>.Zero;
        double tailSum = 0, tailMax = 0;
        fixed (float* pd1 = d1, pd2 = d2, pc = comp)
        {
            for (int i0g = 0; i0g < nx; i0g += 8)
            {
                int i = Math.Min(i0g, nx - 8), first = i0g - i;
                int o = 3 * (r * nx + i);
                bool direct = o + 24 < d1.Length;
                // d1's 8 voxels, all read before anything is stored (comp may be d1)
                for (int h = 0; h < 2; h++)
                {
                    float* s1 = pd1 + o + 12 * h;
                    if (direct) Transpose(Vector128.Load(s1), Vector128.Load(s1 + 3), Vector128.Load(s1 + 6), Vector128.Load(s1 + 9), out ax[h], out ay[h], out az[h]);
                    else
                    {
                        ax[h] = Vector128.Create(s1[0], s1[3], s1[6], s1[9]);
                        ay[h] = Vector128.Create(s1[1], s1[4], s1[7], s1[10]);
                        az[h] = Vector128.Create(s1[2], s1[5], s1[8], s1[11]);
                    }
                }
                // sample points, clamped corners and fractions of the 8 lanes; whole-group tests as RowSimd's
                bool interior = true, interior2D = twoD;
                for (int h = 0; h < 2; h++)
                {
                    var x = MulAdd(w2, az[h], MulAdd(w1, ay[h], MulAdd(w0, ax[h], Vector128.Create((float)i) + (h == 0 ? lane0 : lane1))));
                    var y = MulAdd(w5, az[h], MulAdd(w4, ay[h], MulAdd(w3, ax[h], fj)));
                    var z = MulAdd(w8, az[h], MulAdd(w7, ay[h], MulAdd(w6, ax[h], fk)));
                    ins[h] = (Vector128.GreaterThanOrEqual(x, zero) & Vector128.LessThanOrEqual(x, xmax)
                            & Vector128.GreaterThanOrEqual(y, zero) & Vector128.LessThanOrEqual(y, ymax)
                            & Vector128.GreaterThanOrEqual(z, zero) & Vector128.LessThanOrEqual(z, zmax));
                    x = Vector128.MinNative(Vector128.MaxNative(x, zero), xmax);
                    y = Vector128.MinNative(Vector128.MaxNative(y, zero), ymax);
                    z = Vector128.MinNative(Vector128.MaxNative(z, zero), zmax);
                    var i0 = Vector128.ConvertToInt32Native(x); var j0 = Vector128.ConvertToInt32Native(y); var k0 = Vector128.ConvertToInt32Native(z);
                    (x - Vector128.ConvertToSingle(i0)).Store(fb + 4 * h);
                    (y - Vector128.ConvertToSingle(j0)).Store(fb + 8 + 4 * h);
                    (z - Vector128.ConvertToSingle(k0)).Store(fb + 16 + 4 * h);
                    var i1 = Vector128.Min(i0 + one, ixmax); var j1 = Vector128.Min(j0 + one, iymax); var k1 = Vector128.Min(k0 + one, izmax);
                    var r00 = (k0 * vny + j0) * vnx; var r01 = (k0 * vny + j1) * vnx;
                    var r10 = (k1 * vny + j0) * vnx; var r11 = (k1 * vny + j1) * vnx;
                    var c000 = (r00 + i0) * 3;
                    interior &= (Vector128.LessThan(i0, ixmax) & Vector128.LessThan(j0, iymax) & Vector128.LessThan(k0, izmax) & Vector128.LessThan(c000, vlast111)).ExtractMostSignificantBits() == 0xF;
                    if (twoD) interior2D &= (Vector128.LessThan(i0, ixmax) & Vector128.LessThan(j0, iymax) & Vector128.LessThan(c000, vlast11)).ExtractMostSignificantBits() == 0xF;
                    c000.Store(cb + 4 * h); ((r00 + i1) * 3).Store(cb + 8 + 4 * h);
                    ((r01 + i0) * 3).Store(cb + 16 + 4 * h); ((r01 + i1) * 3).Store(cb + 24 + 4 * h);
                    ((r10 + i0) * 3).Store(cb + 32 + 4 * h); ((r10 + i1) * 3).Store(cb + 40 + 4 * h);
                    ((r11 + i0) * 3).Store(cb + 48 + 4 * h); ((r11 + i1) * 3).Store(cb + 56 + 4 * h);
                }
                for (int l = 0; l < 8; l++)
                {
                    var sx = Vector128.Create(fb[l]); var sy = Vector128.Create(fb[8 + l]); var sz = Vector128.Create(fb[16 + l]);
                    if (interior)
                    {
                        float* pa = pd2 + cb[l];
                        var a0 = MulAdd(sx, Vector128.Load(pa + 3) - Vector128.Load(pa), Vector128.Load(pa));
                        var a1 = MulAdd(sx, Vector128.Load(pa + o010 + 3) - Vector128.Load(pa + o010), Vector128.Load(pa + o010));
                        var a2 = MulAdd(sx, Vector128.Load(pa + o100 + 3) - Vector128.Load(pa + o100), Vector128.Load(pa + o100));
                        var a3 = MulAdd(sx, Vector128.Load(pa + o110 + 3) - Vector128.Load(pa + o110), Vector128.Load(pa + o110));
                        var b0 = MulAdd(sy, a1 - a0, a0); var b1 = MulAdd(sy, a3 - a2, a2);
                        blended[l] = MulAdd(sz, b1 - b0, b0);
                    }
                    else if (interior2D)
                    {
                        // RowSimd's 2D blend: 4 corners, no z step
                        float* pa = pd2 + cb[l];
                        var a0 = MulAdd(sx, Vector128.Load(pa + 3) - Vector128.Load(pa), Vector128.Load(pa));
                        var a1 = MulAdd(sx, Vector128.Load(pa + o010 + 3) - Vector128.Load(pa + o010), Vector128.Load(pa + o010));
                        blended[l] = MulAdd(sy, a1 - a0, a0);
                    }
                    else
                    {
                        var v000 = Corner(pd2, cb[l], lastLoad); var v001 = Corner(pd2, cb[8 + l], lastLoad);
                        var v010 = Corner(pd2, cb[16 + l], lastLoad); var v011 = Corner(pd2, cb[24 + l], lastLoad);
                        var v100 = Corner(pd2, cb[32 + l], lastLoad); var v101 = Corner(pd2, cb[40 + l], lastLoad);
                        var v110 = Corner(pd2, cb[48 + l], lastLoad); var v111 = Corner(pd2, cb[56 + l], lastLoad);
                        var a0 = MulAdd(sx, v001 - v000, v000); var a1 = MulAdd(sx, v011 - v010, v010);
                        var a2 = MulAdd(sx, v101 - v100, v100); var a3 = MulAdd(sx, v111 - v110, v110);
                        var b0 = MulAdd(sy, a1 - a0, a0); var b1 = MulAdd(sy, a3 - a2, a2);
                        blended[l] = MulAdd(sz, b1 - b0, b0);
                    }
                }
                float* dst = pc + o;
                for (int h = 0; h < 2; h++)
                {
                    Transpose(blended[4 * h], blended[4 * h + 1], blended[4 * h + 2], blended[4 * h + 3], out var bx, out var by, out var bz);
                    var m = ins[h];
                    var cx = MulAdd(vt, bx, ax[h]) & m;
                    var cy = MulAdd(vt, by, ay[h]) & m;
                    var cz = MulAdd(vt, bz, az[h]) & m;
                    Vector128<float> nv = default;
                    if (stats)
                    {
                        var vx = w0 * cx + w1 * cy + w2 * cz; var vy = w3 * cx + w4 * cy + w5 * cz; var vz = w6 * cx + w7 * cy + w8 * cz;
                        nv = Vector128.Sqrt(vx * vx + vy * vy + vz * vz);
                    }
                    float* dh = dst + 12 * h;
                    if (first > 0)
                    {
                        for (int l = 0; l < 4; l++)
                        {
                            if (4 * h + l < first) continue;
                            dh[3 * l] = cx.GetElement(l); dh[3 * l + 1] = cy.GetElement(l); dh[3 * l + 2] = cz.GetElement(l);
                        }
                        if (stats)
                        {
                            nv.Store(on + 4 * h);
                            if (h == 1) for (int l = first; l < 8; l++) { tailSum += on[l]; if (on[l] > tailMax) tailMax = on[l]; }
                        }
                        continue;
                    }
                    if (direct)
                    {
                        // each 4-float store also writes the next voxel's x, which the next store overwrites
                        Untranspose(cx, cy, cz, out var r0, out var r1, out var r2, out var r3);
                        r0.Store(dh); r1.Store(dh + 3); r2.Store(dh + 6);
                        if (h == 0) r3.Store(dh + 9);
                        else { dh[9] = r3.GetElement(0); dh[10] = r3.GetElement(1); dh[11] = r3.GetElement(2); }
                    }
                    else
                    {
                        for (int l = 0; l < 4; l++) { dh[3 * l] = cx.GetElement(l); dh[3 * l + 1] = cy.GetElement(l); dh[3 * l + 2] = cz.GetElement(l); }
                    }
                    if (stats)
                    {
                        if (h == 0) { s0a += Vector128.WidenLower(nv); s0b += Vector128.WidenUpper(nv); }
                        else { s1a += Vector128.WidenLower(nv); s1b += Vector128.WidenUpper(nv); }
                        vmax = Vector128.MaxNative(vmax, nv);
                    }
                }
            }
        }
        if (stats)
        {
            // RowSimd's lane partials: lane l of the 8 sums vsum0[l] + vsum1[l], then pairs, then the tail
            var ta = s0a + s1a; var tb = s0b + s1b;
            sum += (ta.GetElement(0) + ta.GetElement(1)) + (tb.GetElement(0) + tb.GetElement(1)) + tailSum;
            for (int l = 0; l < 4; l++) if (vmax.GetElement(l) > max) max = vmax.GetElement(l);
            if (tailMax > max) max = tailMax;
        }
        return nx;
    }

    /// <summary>A corner's (x, y, z, _) as one load where the 4th float is inside the array, else from its 3 floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector128<float> Corner(float* p, int c, int lastLoad)
        => c < lastLoad ? Vector128.Load(p + c) : Vector128.Create(p[c], p[c + 1], p[c + 2], 0f);
}
