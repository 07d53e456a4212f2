using RegPS.Engine.Resampling;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RegPS.Engine.Images;
using RegPS.Engine.Parallel;

namespace RegPS.Engine.Fields;

/// <summary>
/// Kernels on working displacement fields: 3 interleaved float32 world-mm components per voxel, x fastest
/// (see <see cref="FieldGrid"/>). Every kernel runs in parallel over rows (j, k) of the field grid; each output voxel
/// depends only on the inputs, and reductions keep one partial per row combined in row order afterwards, so results
/// are bit-identical at any thread count. Arithmetic is double inside a voxel, storage float32.
/// </summary>
internal static class VectorFields
{
    // ---------------------------------------------------------------- interpolation

    /// <summary>
    /// Trilinear interpolation of a 3-component field at continuous voxel (x, y, z) with the composition rule:
    /// the point must lie in [0, n-1] on every axis (all corners with a non-zero weight exist), else the result is
    /// zero and false is returned. DIPY asks for all 8 corners, which also rejects points exactly on the last
    /// voxel of an axis; accepting them keeps the far faces from being forced to zero (identical everywhere else).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool InterpolateInside(float[] f, int nx, int ny, int nz, double x, double y, double z,
        out double ox, out double oy, out double oz)
    {
        ox = oy = oz = 0;
        if (!(x >= 0 && y >= 0 && z >= 0 && x <= nx - 1 && y <= ny - 1 && z <= nz - 1)) return false;
        int i0 = (int)x, j0 = (int)y, k0 = (int)z;
        double fx = x - i0, fy = y - j0, fz = z - k0;
        int i1 = i0 + 1, j1 = j0 + 1, k1 = k0 + 1;
        if (i1 >= nx) { i1 = i0; fx = 0; }
        if (j1 >= ny) { j1 = j0; fy = 0; }
        if (k1 >= nz) { k1 = k0; fz = 0; }
        int r00 = (k0 * ny + j0) * nx, r01 = (k0 * ny + j1) * nx, r10 = (k1 * ny + j0) * nx, r11 = (k1 * ny + j1) * nx;
        int m = 3 * (r11 + i1);
        if (m + 3 < f.Length)
        {
            // Fast path: each corner's 3 components (plus one neighbour float, weight-free) as one Vector128 load,
            // blended in float with 7 lerps; no bounds checks (every index is inside the array by construction).
            ref float f0 = ref MemoryMarshal.GetArrayDataReference(f);
            var c000 = Vector128.LoadUnsafe(ref f0, (nuint)(3 * (r00 + i0)));
            var c001 = Vector128.LoadUnsafe(ref f0, (nuint)(3 * (r00 + i1)));
            var c010 = Vector128.LoadUnsafe(ref f0, (nuint)(3 * (r01 + i0)));
            var c011 = Vector128.LoadUnsafe(ref f0, (nuint)(3 * (r01 + i1)));
            var c100 = Vector128.LoadUnsafe(ref f0, (nuint)(3 * (r10 + i0)));
            var c101 = Vector128.LoadUnsafe(ref f0, (nuint)(3 * (r10 + i1)));
            var c110 = Vector128.LoadUnsafe(ref f0, (nuint)(3 * (r11 + i0)));
            var c111 = Vector128.LoadUnsafe(ref f0, (nuint)m);
            var vx = Vector128.Create((float)fx); var vy = Vector128.Create((float)fy); var vz = Vector128.Create((float)fz);
            var a0 = c000 + vx * (c001 - c000);
            var a1 = c010 + vx * (c011 - c010);
            var a2 = c100 + vx * (c101 - c100);
            var a3 = c110 + vx * (c111 - c110);
            var b0 = a0 + vy * (a1 - a0);
            var b1 = a2 + vy * (a3 - a2);
            var res = b0 + vz * (b1 - b0);
            ox = res.GetElement(0); oy = res.GetElement(1); oz = res.GetElement(2);
            return true;
        }
        double gx = 1 - fx, gy = 1 - fy, gz = 1 - fz;
        double w000 = gz * gy * gx, w001 = gz * gy * fx, w010 = gz * fy * gx, w011 = gz * fy * fx;
        double w100 = fz * gy * gx, w101 = fz * gy * fx, w110 = fz * fy * gx, w111 = fz * fy * fx;
        int a = 3 * (r00 + i0), b = 3 * (r00 + i1), c = 3 * (r01 + i0), d = 3 * (r01 + i1);
        int e = 3 * (r10 + i0), g = 3 * (r10 + i1), h = 3 * (r11 + i0);
        ox = w000 * f[a] + w001 * f[b] + w010 * f[c] + w011 * f[d] + w100 * f[e] + w101 * f[g] + w110 * f[h] + w111 * f[m];
        oy = w000 * f[a + 1] + w001 * f[b + 1] + w010 * f[c + 1] + w011 * f[d + 1] + w100 * f[e + 1] + w101 * f[g + 1] + w110 * f[h + 1] + w111 * f[m + 1];
        oz = w000 * f[a + 2] + w001 * f[b + 2] + w010 * f[c + 2] + w011 * f[d + 2] + w100 * f[e + 2] + w101 * f[g + 2] + w110 * f[h + 2] + w111 * f[m + 2];
        return true;
    }

    /// <summary>
    /// Trilinear interpolation of a 3-component field with DIPY's zero padding: points in (-1, n) blend the corners that
    /// exist with zeros, points further out give zero. Used to resample fields (level expansion, warping onto other grids).
    /// </summary>
    public static void InterpolateZeroPadded(float[] f, int nx, int ny, int nz, double x, double y, double z,
        out double ox, out double oy, out double oz)
    {
        ox = oy = oz = 0;
        if (!(x > -1 && y > -1 && z > -1 && x < nx && y < ny && z < nz)) return;
        int i0 = (int)Math.Floor(x), j0 = (int)Math.Floor(y), k0 = (int)Math.Floor(z);
        double fx = x - i0, fy = y - j0, fz = z - k0;
        for (int dk = 0; dk < 2; dk++)
        {
            int k = k0 + dk;
            double wz = dk == 0 ? 1 - fz : fz;
            if (k < 0 || k >= nz || wz == 0) continue;
            for (int dj = 0; dj < 2; dj++)
            {
                int j = j0 + dj;
                double wy = wz * (dj == 0 ? 1 - fy : fy);
                if (j < 0 || j >= ny || wy == 0) continue;
                for (int di = 0; di < 2; di++)
                {
                    int i = i0 + di;
                    double w = wy * (di == 0 ? 1 - fx : fx);
                    if (i < 0 || i >= nx || w == 0) continue;
                    int o = 3 * ((k * ny + j) * nx + i);
                    ox += w * f[o]; oy += w * f[o + 1]; oz += w * f[o + 2];
                }
            }
        }
    }

    /// <summary>
    /// Scalar trilinear (bilinear when nz = 1) interpolation with DIPY's zero padding: partial weights in (-1, n).
    /// The fast path (all corners inside) has no per-corner tests.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SampleZeroPadded(float[] img, int nx, int ny, int nz, double x, double y, double z)
    {
        if (nz == 1)
        {
            if (!(x > -1 && y > -1 && x < nx && y < ny && z > -1 && z < 1)) return 0f;
            int i0 = (int)Math.Floor(x), j0 = (int)Math.Floor(y);
            double fx = x - i0, fy = y - j0, wz = z >= 0 ? 1 - z : 1 + z;
            if (i0 >= 0 && j0 >= 0 && i0 + 1 < nx && j0 + 1 < ny)
            {
                int o = j0 * nx + i0;
                double a = img[o] + fx * (img[o + 1] - img[o]);
                double b = img[o + nx] + fx * (img[o + nx + 1] - img[o + nx]);
                return (float)(wz * (a + fy * (b - a)));
            }
            double acc = 0;
            for (int dj = 0; dj < 2; dj++)
            {
                int j = j0 + dj;
                double wy = dj == 0 ? 1 - fy : fy;
                if (j < 0 || j >= ny || wy == 0) continue;
                if (i0 >= 0) acc += wy * (1 - fx) * img[j * nx + i0];
                if (i0 + 1 < nx && fx != 0) acc += wy * fx * img[j * nx + i0 + 1];
            }
            return (float)(wz * acc);
        }
        else
        {
            if (!(x > -1 && y > -1 && z > -1 && x < nx && y < ny && z < nz)) return 0f;
            int i0 = (int)Math.Floor(x), j0 = (int)Math.Floor(y), k0 = (int)Math.Floor(z);
            double fx = x - i0, fy = y - j0, fz = z - k0;
            if (i0 >= 0 && j0 >= 0 && k0 >= 0 && i0 + 1 < nx && j0 + 1 < ny && k0 + 1 < nz)
            {
                int o = (k0 * ny + j0) * nx + i0, sxy = nx * ny;
                double a = img[o] + fx * (img[o + 1] - img[o]);
                double b = img[o + nx] + fx * (img[o + nx + 1] - img[o + nx]);
                double c = img[o + sxy] + fx * (img[o + sxy + 1] - img[o + sxy]);
                double d = img[o + sxy + nx] + fx * (img[o + sxy + nx + 1] - img[o + sxy + nx]);
                double ab = a + fy * (b - a), cd = c + fy * (d - c);
                return (float)(ab + fz * (cd - ab));
            }
            // Near the border: the resampler's zero-padded trilinear kernel (same weights, same order, same bits).
            return Resampler.Trilinear(img, 0, nx, ny, nz, x, y, z, Boundary.ZeroPadded);
        }
    }

    // ---------------------------------------------------------------- composition and inversion

    /// <summary>
    /// comp(x) = d1(x) + t * d2(x + d1(x)) (DIPY's compose_vector_fields with both fields on grid g): the point
    /// x + d1(x) is taken to voxel units with W and d2 is interpolated there; off-domain points give comp = 0 (DIPY).
    /// comp may be d1 (in-place update) but not d2. Per-row partials of the voxel norms of comp (sum, max) are written
    /// when the arrays are given. One pass, O(1) per voxel.
    /// </summary>
    public static void Compose(float[] d1, float[] d2, FieldGrid g, double t, float[] comp, double[]? rowSum, double[]? rowMax, int maxDegree, bool allowSimd = true)
    {
        SliceIterator.For(g.Rows, maxDegree, r => ComposeRow(r, d1, d2, g, t, comp, rowSum, rowMax, allowSimd));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ComposeRow(int r, float[] d1, float[] d2, FieldGrid g, double t, float[] comp, double[]? rowSum, double[]? rowMax, bool allowSimd = true)
    {
        int nx = g.NX, ny = g.NY, nz = g.NZ;
        var w = g.W;
        double w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7], w8 = w[8];
        bool stats = rowSum is not null;
        int j = r % ny, k = r / ny;
        double sum = 0, max = 0;
        int start = allowSimd && Avx2.IsSupported && Fma.IsSupported && nx >= 8 ? ComposeRowAvx2(r, d1, d2, g, t, comp, stats, ref sum, ref max) : 0;
        int o = 3 * (r * nx + start);
        for (int i = start; i < nx; i++, o += 3)
        {
            double ax = d1[o], ay = d1[o + 1], az = d1[o + 2];
            double x = i + w0 * ax + w1 * ay + w2 * az;
            double y = j + w3 * ax + w4 * ay + w5 * az;
            double z = k + w6 * ax + w7 * ay + w8 * az;
            if (InterpolateInside(d2, nx, ny, nz, x, y, z, out double bx, out double by, out double bz))
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
    /// Fixed-point inversion (Chen et al. 2008, DIPY's schedule): p is the warm start and the result. Each iteration
    /// computes the residual q = p + d(x + p(x)) and its voxel norms, then p -= s q with s = eps (0.75 first, then 0.5),
    /// except that residuals longer than maxlen = eps * max|q| get s = eps * maxlen / |q| (a step of eps * maxlen; DIPY
    /// 1.6's step_factor, checked against its invert_vector_field_fixed_point_3d in DipyInversionTests). Stops after maxIter
    /// iterations, when the mean residual is at most tol voxels, or when the largest is at most maxTol voxels
    /// (ITK's InvertDisplacementFieldImageFilter criterion). q is scratch of the same size as p.
    /// </summary>
    public static (int Iterations, double Mean, double Max) Invert(float[] d, FieldGrid g, int maxIter, double tol, double maxTol,
        float[] p, float[] q, double[] rowSum, double[] rowMax, int maxDegree)
    {
        int rows = g.Rows;
        double mean = double.PositiveInfinity, max = double.PositiveInfinity;
        if (maxIter <= 0) return (0, mean, max);
        // Pass 0 computes the first residual; each later pass fuses the update p -= s q of the previous iteration
        // with the next residual at the same voxel (the update needs only q(x) and the previous global max, and the
        // residual only p(x) and the fixed field d), so n iterations cost n + 1 passes instead of 2n.
        Compose(p, d, g, 1.0, q, rowSum, rowMax, maxDegree);
        int it = 0;
        while (true)
        {
            double eps = it == 0 ? 0.75 : 0.5;
            double sum = 0; max = 0;
            for (int r = 0; r < rows; r++) { sum += rowSum[r]; if (rowMax[r] > max) max = rowMax[r]; }
            mean = sum / g.Count;
            double maxlen = max * eps;
            it++;
            if (it >= maxIter || mean <= tol || max <= maxTol)
            {
                SliceIterator.For(rows, maxDegree, r => InvertUpdateRow(r, g, p, q, maxlen, eps));
                break;
            }
            SliceIterator.For(rows, maxDegree, r => InvertFusedRow(r, d, g, p, q, maxlen, eps, rowSum, rowMax));
        }
        return (it, mean, max);
    }

    /// <summary>
    /// p(x) -= s q(x) (the pending update) along the row, then q(x) = p(x) + d(x + p(x)) with its voxel norms into the
    /// row stats. Each voxel's residual needs only its own updated p(x), so doing the row's updates first is the same
    /// as interleaving them voxel by voxel.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void InvertFusedRow(int r, float[] d, FieldGrid g, float[] p, float[] q, double maxlen, double eps, double[] rowSum, double[] rowMax)
    {
        InvertUpdateRow(r, g, p, q, maxlen, eps);
        ComposeRow(r, p, d, g, 1.0, q, rowSum, rowMax);
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
    private static unsafe int ComposeRowAvx2(int r, float[] d1, float[] d2, FieldGrid g, double t, float[] comp, bool stats, ref double sum, ref double max)
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
                    ax = Avx2.GatherVector256(pd1 + o, stride3, 4);
                    ay = Avx2.GatherVector256(pd1 + o + 1, stride3, 4);
                    az = Avx2.GatherVector256(pd1 + o + 2, stride3, 4);
                }
                var x = Fma.MultiplyAdd(w2, az, Fma.MultiplyAdd(w1, ay, Fma.MultiplyAdd(w0, ax, Vector256.Create((float)i) + lane)));
                var y = Fma.MultiplyAdd(w5, az, Fma.MultiplyAdd(w4, ay, Fma.MultiplyAdd(w3, ax, fj)));
                var z = Fma.MultiplyAdd(w8, az, Fma.MultiplyAdd(w7, ay, Fma.MultiplyAdd(w6, ax, fk)));
                var inside = Vector256.GreaterThanOrEqual(x, zero) & Vector256.LessThanOrEqual(x, xmax)
                           & Vector256.GreaterThanOrEqual(y, zero) & Vector256.LessThanOrEqual(y, ymax)
                           & Vector256.GreaterThanOrEqual(z, zero) & Vector256.LessThanOrEqual(z, zmax);
                // raw vminps/vmaxps/vcvttps2dq: the values are finite and clamped to [0, n-1], so the IEEE-exact
                // Vector256.Min/Max and the saturating conversion would only add instructions
                x = Avx.Min(Avx.Max(x, zero), xmax);
                y = Avx.Min(Avx.Max(y, zero), ymax);
                z = Avx.Min(Avx.Max(z, zero), zmax);
                var i0 = Avx.ConvertToVector256Int32WithTruncation(x); var j0 = Avx.ConvertToVector256Int32WithTruncation(y); var k0 = Avx.ConvertToVector256Int32WithTruncation(z);
                var fx = x - Vector256.ConvertToSingle(i0); var fy = y - Vector256.ConvertToSingle(j0); var fz = z - Vector256.ConvertToSingle(k0);
                var i1 = Vector256.Min(i0 + one, ixmax); var j1 = Vector256.Min(j0 + one, iymax); var k1 = Vector256.Min(k0 + one, izmax);
                var r00 = Avx2.MultiplyLow(Avx2.MultiplyLow(k0, vny) + j0, vnx);
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
                        var a0 = Fma.MultiplyAdd(sx, v001 - v000, v000); var a1 = Fma.MultiplyAdd(sx, v011 - v010, v010);
                        var a2 = Fma.MultiplyAdd(sx, v101 - v100, v100); var a3 = Fma.MultiplyAdd(sx, v111 - v110, v110);
                        var b0 = Fma.MultiplyAdd(sy, a1 - a0, a0); var b1 = Fma.MultiplyAdd(sy, a3 - a2, a2);
                        var two = Fma.MultiplyAdd(sz, b1 - b0, b0);
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
                        var a0 = Fma.MultiplyAdd(sx, v001 - v000, v000); var a1 = Fma.MultiplyAdd(sx, v011 - v010, v010);
                        var b0 = Fma.MultiplyAdd(sy, a1 - a0, a0);
                        lanes[l] = b0.GetLower(); lanes[l + 1] = b0.GetUpper();
                    }
                    LanesToComponents(lanes, res);
                    goto blended;
                }
                var r01 = Avx2.MultiplyLow(Avx2.MultiplyLow(k0, vny) + j1, vnx);
                var r10 = Avx2.MultiplyLow(Avx2.MultiplyLow(k1, vny) + j0, vnx);
                var r11 = Avx2.MultiplyLow(Avx2.MultiplyLow(k1, vny) + j1, vnx);
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
                        var a0 = Fma.MultiplyAdd(sx, v001 - v000, v000); var a1 = Fma.MultiplyAdd(sx, v011 - v010, v010);
                        var a2 = Fma.MultiplyAdd(sx, v101 - v100, v100); var a3 = Fma.MultiplyAdd(sx, v111 - v110, v110);
                        var b0 = Fma.MultiplyAdd(sy, a1 - a0, a0); var b1 = Fma.MultiplyAdd(sy, a3 - a2, a2);
                        lanes[l] = Fma.MultiplyAdd(sz, b1 - b0, b0);
                    }
                    LanesToComponents(lanes, res);
                }
                else for (int c = 0; c < 3; c++)
                {
                    float* b = pd2 + c;
                    var v000 = Avx2.GatherVector256(b, c000, 4); var v001 = Avx2.GatherVector256(b, c001, 4);
                    var v010 = Avx2.GatherVector256(b, c010, 4); var v011 = Avx2.GatherVector256(b, c011, 4);
                    var v100 = Avx2.GatherVector256(b, c100, 4); var v101 = Avx2.GatherVector256(b, c101, 4);
                    var v110 = Avx2.GatherVector256(b, c110, 4); var v111 = Avx2.GatherVector256(b, c111, 4);
                    var a0 = Fma.MultiplyAdd(fx, v001 - v000, v000); var a1 = Fma.MultiplyAdd(fx, v011 - v010, v010);
                    var a2 = Fma.MultiplyAdd(fx, v101 - v100, v100); var a3 = Fma.MultiplyAdd(fx, v111 - v110, v110);
                    var b0 = Fma.MultiplyAdd(fy, a1 - a0, a0); var b1 = Fma.MultiplyAdd(fy, a3 - a2, a2);
                    res[c] = Fma.MultiplyAdd(fz, b1 - b0, b0);
                }
            blended:
                var m = inside.AsSingle();
                var cx = Vector256.BitwiseAnd(Fma.MultiplyAdd(vt, res[0], ax), m);
                var cy = Vector256.BitwiseAnd(Fma.MultiplyAdd(vt, res[1], ay), m);
                var cz = Vector256.BitwiseAnd(Fma.MultiplyAdd(vt, res[2], az), m);
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
                    vmax = Avx.Max(vmax, nv);
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

    /// <summary>The blended (x, y, z, _) rows of 8 voxels to their x, y and z vectors (res[0..2]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void LanesToComponents(Vector128<float>* lanes, Vector256<float>* res)
    {
        Transpose(lanes[0], lanes[1], lanes[2], lanes[3], out var x0, out var y0, out var z0);
        Transpose(lanes[4], lanes[5], lanes[6], lanes[7], out var x1, out var y1, out var z1);
        res[0] = Vector256.Create(x0, x1); res[1] = Vector256.Create(y0, y1); res[2] = Vector256.Create(z0, z1);
    }

    /// <summary>Rows (x, y, z, _) of 4 voxels to the x, y and z vectors of those voxels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose(Vector128<float> r0, Vector128<float> r1, Vector128<float> r2, Vector128<float> r3,
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

    /// <summary>
    /// The update of <see cref="InvertUpdateRow"/> for 4 voxels at a time in double SIMD: xyz rows read as Vector128 and
    /// transposed, then exactly the scalar loop's operations in the same order (so the same bits), written back as rows.
    /// Returns how many voxels of the row were done (groups whose 4-float loads stay inside the arrays).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe int InvertUpdateRowSimd(int v0, int nx, double[] w, float[] p, float[] q, double maxlen, double eps)
    {
        var w0 = Vector256.Create(w[0]); var w1 = Vector256.Create(w[1]); var w2 = Vector256.Create(w[2]);
        var w3 = Vector256.Create(w[3]); var w4 = Vector256.Create(w[4]); var w5 = Vector256.Create(w[5]);
        var w6 = Vector256.Create(w[6]); var w7 = Vector256.Create(w[7]); var w8 = Vector256.Create(w[8]);
        var vmax = Vector256.Create(maxlen); var veps = Vector256.Create(eps); var vshrink = Vector256.Create(eps * maxlen);
        // a group whose squared norms are all clearly below maxlen^2 has every norm below maxlen (sqrt is correctly
        // rounded and the margin is far above an ulp): its scale is eps without taking the 4 square roots
        var vlim2 = Vector256.Create(maxlen * maxlen * (1 - 1e-9));
        int i = 0;
        fixed (float* pp = p, pq = q)
        {
            for (; i + 4 <= nx; i += 4)
            {
                int o = 3 * (v0 + i);
                if (o + 12 >= p.Length) break;
                float* sq = pq + o; float* sp = pp + o;
                Transpose(Vector128.Load(sq), Vector128.Load(sq + 3), Vector128.Load(sq + 6), Vector128.Load(sq + 9), out var fqx, out var fqy, out var fqz);
                Transpose(Vector128.Load(sp), Vector128.Load(sp + 3), Vector128.Load(sp + 6), Vector128.Load(sp + 9), out var fpx, out var fpy, out var fpz);
                var qx = Avx.ConvertToVector256Double(fqx); var qy = Avx.ConvertToVector256Double(fqy); var qz = Avx.ConvertToVector256Double(fqz);
                var vx = w0 * qx + w1 * qy + w2 * qz;
                var vy = w3 * qx + w4 * qy + w5 * qz;
                var vz = w6 * qx + w7 * qy + w8 * qz;
                var n2 = vx * vx + vy * vy + vz * vz;
                var sc = veps;
                if (Vector256.GreaterThanAny(n2, vlim2))
                {
                    var nrm = Vector256.Sqrt(n2);
                    sc = Vector256.ConditionalSelect(Vector256.GreaterThan(nrm, vmax), vshrink / nrm, veps);
                }
                var px = Avx.ConvertToVector256Double(fpx) - sc * qx;
                var py = Avx.ConvertToVector256Double(fpy) - sc * qy;
                var pz = Avx.ConvertToVector256Double(fpz) - sc * qz;
                Untranspose(Avx.ConvertToVector128Single(px), Avx.ConvertToVector128Single(py), Avx.ConvertToVector128Single(pz), out var r0, out var r1, out var r2, out var r3);
                // each 4-float store also writes the next voxel's x, overwritten by the next store (or the scalar stores)
                r0.Store(sp); r1.Store(sp + 3); r2.Store(sp + 6);
                sp[9] = r3.GetElement(0); sp[10] = r3.GetElement(1); sp[11] = r3.GetElement(2);
            }
        }
        return i;
    }

    /// <summary>Largest squared voxel length |W v|^2 over 4-voxel groups of a row (double SIMD, the scalar operation order); returns the voxels done.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe int MaxSquaredNormSimd(float[] f, int o0, int nx, double[] w, ref double max)
    {
        var w0 = Vector256.Create(w[0]); var w1 = Vector256.Create(w[1]); var w2 = Vector256.Create(w[2]);
        var w3 = Vector256.Create(w[3]); var w4 = Vector256.Create(w[4]); var w5 = Vector256.Create(w[5]);
        var w6 = Vector256.Create(w[6]); var w7 = Vector256.Create(w[7]); var w8 = Vector256.Create(w[8]);
        var vm = Vector256<double>.Zero;
        int i = 0;
        fixed (float* pf = f)
        {
            for (; i + 4 <= nx; i += 4)
            {
                int o = o0 + 3 * i;
                if (o + 12 >= f.Length) break;
                float* s = pf + o;
                Transpose(Vector128.Load(s), Vector128.Load(s + 3), Vector128.Load(s + 6), Vector128.Load(s + 9), out var fx, out var fy, out var fz);
                var x = Avx.ConvertToVector256Double(fx); var y = Avx.ConvertToVector256Double(fy); var z = Avx.ConvertToVector256Double(fz);
                var a = w0 * x + w1 * y + w2 * z; var b = w3 * x + w4 * y + w5 * z; var c = w6 * x + w7 * y + w8 * z;
                vm = Vector256.Max(vm, a * a + b * b + c * c);
            }
        }
        for (int l = 0; l < 4; l++) if (vm.GetElement(l) > max) max = vm.GetElement(l);
        return i;
    }

    /// <summary>
    /// For 8 float indices (lo: lanes 0-3, hi: 4-7) into base, the values at index and index + 1 as two vectors, from two
    /// 4-lane 64-bit gathers.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void PairGather(float* basePtr, Vector128<int> lo, Vector128<int> hi, Vector256<int> split,
        out Vector256<float> first, out Vector256<float> second)
    {
        // [a0 b0 a1 b1 a2 b2 a3 b3] -> [a0 a1 a2 a3 b0 b1 b2 b3]
        var g0 = Avx2.PermuteVar8x32(Avx2.GatherVector256((double*)basePtr, lo, 4).AsSingle(), split);
        var g1 = Avx2.PermuteVar8x32(Avx2.GatherVector256((double*)basePtr, hi, 4).AsSingle(), split);
        first = Avx2.Permute2x128(g0, g1, 0x20);
        second = Avx2.Permute2x128(g0, g1, 0x31);
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void InvertUpdateRow(int r, FieldGrid g, float[] p, float[] q, double maxlen, double eps)
    {
        var w = g.W;
        double w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7], w8 = w[8];
        int nx = g.NX;
        int o = 3 * r * nx;
        int i = 0;
        if (Avx.IsSupported)
            i = InvertUpdateRowSimd(r * nx, nx, w, p, q, maxlen, eps);
        o += 3 * i;
        for (; i < nx; i++, o += 3)
        {
            double qx = q[o], qy = q[o + 1], qz = q[o + 2];
            double vx = w0 * qx + w1 * qy + w2 * qz, vy = w3 * qx + w4 * qy + w5 * qz, vz = w6 * qx + w7 * qy + w8 * qz;
            double nrm = Math.Sqrt(vx * vx + vy * vy + vz * vz);
            double sc = nrm > maxlen ? eps * maxlen / nrm : eps;
            p[o] = (float)(p[o] - sc * qx);
            p[o + 1] = (float)(p[o + 1] - sc * qy);
            p[o + 2] = (float)(p[o + 2] - sc * qz);
        }
    }

    // ---------------------------------------------------------------- warping and resampling

    /// <summary>
    /// Pulls a scalar image through a field on grid g: dst(x) = img(Wimg * B * (X + d(x))) where X is the world point of
    /// voxel x of g and B a world-to-world affine (the prealign, or identity). Trilinear with DIPY's zero padding.
    /// The affine part is folded into one 4x4 map from (voxel index, field) to image index, so a voxel costs one
    /// 3x3 product and one interpolation.
    /// </summary>
    public static void Warp(float[] img, Grid imgGrid, Matrix4 worldMap, float[] d, FieldGrid g, float[] dst, int maxDegree, bool allowSimd = true)
    {
        var M = imgGrid.WorldToGrid * worldMap;
        var A = M * g.Grid.GridToWorld;
        double a00 = A[0, 0], a01 = A[0, 1], a02 = A[0, 2], a03 = A[0, 3];
        double a10 = A[1, 0], a11 = A[1, 1], a12 = A[1, 2], a13 = A[1, 3];
        double a20 = A[2, 0], a21 = A[2, 1], a22 = A[2, 2], a23 = A[2, 3];
        double m00 = M[0, 0], m01 = M[0, 1], m02 = M[0, 2], m10 = M[1, 0], m11 = M[1, 1], m12 = M[1, 2], m20 = M[2, 0], m21 = M[2, 1], m22 = M[2, 2];
        var a = new[] { a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, m00, m01, m02, m10, m11, m12, m20, m21, m22 };
        SliceIterator.For(g.Rows, maxDegree, r => WarpRow(r, img, imgGrid.NX, imgGrid.NY, imgGrid.NZ, a, d, g.NX, g.NY, dst, allowSimd));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WarpRow(int r, float[] img, int sx, int sy, int sz, double[] a, float[] d, int nx, int ny, float[] dst, bool allowSimd)
    {
        double a00 = a[0], a01 = a[1], a02 = a[2], a03 = a[3], a10 = a[4], a11 = a[5], a12 = a[6], a13 = a[7], a20 = a[8], a21 = a[9], a22 = a[10], a23 = a[11];
        double m00 = a[12], m01 = a[13], m02 = a[14], m10 = a[15], m11 = a[16], m12 = a[17], m20 = a[18], m21 = a[19], m22 = a[20];
        int j = r % ny, k = r / ny;
        double bx = a01 * j + a02 * k + a03, by = a11 * j + a12 * k + a13, bz = a21 * j + a22 * k + a23;
        int o = r * nx;
        int start = !allowSimd || nx < 8 || !Avx2.IsSupported || !Fma.IsSupported ? 0
            : WarpRowAvx2(r, img, sx, sy, sz, a, d, nx, ny, dst);
        o += start;
        for (int i = start; i < nx; i++, o++)
        {
            double dx = d[3 * o], dy = d[3 * o + 1], dz = d[3 * o + 2];
            double x = bx + a00 * i + m00 * dx + m01 * dy + m02 * dz;
            double y = by + a10 * i + m10 * dx + m11 * dy + m12 * dz;
            double z = bz + a20 * i + m20 * dx + m21 * dy + m22 * dz;
            dst[o] = SampleZeroPadded(img, sx, sy, sz, x, y, z);
        }
    }

    /// <summary>
    /// AVX2 version of the warp, 8 voxels per step: the 8 sample points are formed in float and, when all 8 lie where
    /// every trilinear corner exists, the 8 corners are gathered and blended with 7 lerps (2D images: 4 corners, 3 lerps,
    /// when z is exactly 0); otherwise that group goes through the scalar zero-padded sampler. Float arithmetic (the scalar path is double): values agree
    /// with it to about 1e-5 relative. Returns the number of voxels done.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe int WarpRowAvx2(int r, float[] img, int sx, int sy, int sz, double[] a, float[] d, int nx, int ny, float[] dst)
    {
        int j = r % ny, k = r / ny;
        double bxd = a[1] * j + a[2] * k + a[3], byd = a[5] * j + a[6] * k + a[7], bzd = a[9] * j + a[10] * k + a[11];
        var a00 = Vector256.Create((float)a[0]); var a10 = Vector256.Create((float)a[4]); var a20 = Vector256.Create((float)a[8]);
        var m00 = Vector256.Create((float)a[12]); var m01 = Vector256.Create((float)a[13]); var m02 = Vector256.Create((float)a[14]);
        var m10 = Vector256.Create((float)a[15]); var m11 = Vector256.Create((float)a[16]); var m12 = Vector256.Create((float)a[17]);
        var m20 = Vector256.Create((float)a[18]); var m21 = Vector256.Create((float)a[19]); var m22 = Vector256.Create((float)a[20]);
        var stride3 = Vector256.Create(0, 3, 6, 9, 12, 15, 18, 21);
        var lane = Vector256.Create(0f, 1, 2, 3, 4, 5, 6, 7);
        var zero = Vector256<float>.Zero;
        var xlim = Vector256.Create((float)(sx - 1)); var ylim = Vector256.Create((float)(sy - 1)); var zlim = Vector256.Create((float)(sz - 1));
        var vsx = Vector256.Create(sx); var vsy = Vector256.Create(sy);
        var pairSplit = Vector256.Create(0, 2, 4, 6, 1, 3, 5, 7);
        int sxy = sx * sy;
        bool twoD = sz == 1;
        int done = nx & ~7;
        fixed (float* pd = d, pi = img, po = dst)
        {
            for (int i = 0; i < done; i += 8)
            {
                int o = r * nx + i;
                Vector256<float> dx, dy, dz;
                if (3 * o + 24 < d.Length)
                {
                    // the 8 voxels' vectors as Vector128 loads (xyz plus the next float) and two transposes
                    float* s1 = pd + 3 * o;
                    Transpose(Vector128.Load(s1), Vector128.Load(s1 + 3), Vector128.Load(s1 + 6), Vector128.Load(s1 + 9), out var x0, out var y0, out var z0);
                    Transpose(Vector128.Load(s1 + 12), Vector128.Load(s1 + 15), Vector128.Load(s1 + 18), Vector128.Load(s1 + 21), out var x1, out var y1, out var z1);
                    dx = Vector256.Create(x0, x1); dy = Vector256.Create(y0, y1); dz = Vector256.Create(z0, z1);
                }
                else
                {
                    dx = Avx2.GatherVector256(pd + 3 * o, stride3, 4);
                    dy = Avx2.GatherVector256(pd + 3 * o + 1, stride3, 4);
                    dz = Avx2.GatherVector256(pd + 3 * o + 2, stride3, 4);
                }
                var ii = Vector256.Create((float)i) + lane;
                // base terms in double, rounded once to float
                var x = Vector256.Create((float)bxd) + a00 * ii + m00 * dx + m01 * dy + m02 * dz;
                var y = Vector256.Create((float)byd) + a10 * ii + m10 * dx + m11 * dy + m12 * dz;
                var z = Vector256.Create((float)bzd) + a20 * ii + m20 * dx + m21 * dy + m22 * dz;
                // 2D images: every corner needs z exactly 0 (the scalar sampler weights a z off 0 by 1 - |z|)
                var ok = Vector256.GreaterThanOrEqual(x, zero) & Vector256.LessThan(x, xlim)
                       & Vector256.GreaterThanOrEqual(y, zero) & Vector256.LessThan(y, ylim)
                       & (twoD ? Vector256.Equals(z, zero) : Vector256.GreaterThanOrEqual(z, zero) & Vector256.LessThan(z, zlim));
                if (ok.ExtractMostSignificantBits() != 0xFF)
                {
                    for (int l = 0; l < 8; l++)
                    {
                        int v = o + l;
                        double ex = d[3 * v], ey = d[3 * v + 1], ez = d[3 * v + 2];
                        double px = bxd + a[0] * (i + l) + a[12] * ex + a[13] * ey + a[14] * ez;
                        double py = byd + a[4] * (i + l) + a[15] * ex + a[16] * ey + a[17] * ez;
                        double pz = bzd + a[8] * (i + l) + a[18] * ex + a[19] * ey + a[20] * ez;
                        dst[v] = SampleZeroPadded(img, sx, sy, sz, px, py, pz);
                    }
                    continue;
                }
                var i0 = Avx.ConvertToVector256Int32WithTruncation(x); var j0 = Avx.ConvertToVector256Int32WithTruncation(y); var k0 = Avx.ConvertToVector256Int32WithTruncation(z);
                var fx = x - Vector256.ConvertToSingle(i0); var fy = y - Vector256.ConvertToSingle(j0); var fz = z - Vector256.ConvertToSingle(k0);
                var b = Avx2.MultiplyLow(Avx2.MultiplyLow(k0, vsy) + j0, vsx) + i0;
                if (twoD)
                {
                    // bilinear: the two rows' corner pairs, 3 lerps
                    PairGather(pi, b.GetLower(), b.GetUpper(), pairSplit, out var u00, out var u01);
                    PairGather(pi + sx, b.GetLower(), b.GetUpper(), pairSplit, out var u10, out var u11);
                    var h0 = Fma.MultiplyAdd(fx, u01 - u00, u00); var h1 = Fma.MultiplyAdd(fx, u11 - u10, u10);
                    Fma.MultiplyAdd(fy, h1 - h0, h0).Store(po + o);
                    continue;
                }
                // each corner pair (i0, i0+1) of a row is one 8-byte element: 4-lane qword gathers fetch half as many
                // elements as 8 float gathers would, and a permute splits the pairs back into the two corners
                var bl = b.GetLower(); var bh = b.GetUpper();
                PairGather(pi, bl, bh, pairSplit, out var v000, out var v001);
                PairGather(pi + sx, bl, bh, pairSplit, out var v010, out var v011);
                PairGather(pi + sxy, bl, bh, pairSplit, out var v100, out var v101);
                PairGather(pi + sxy + sx, bl, bh, pairSplit, out var v110, out var v111);
                var c0 = Fma.MultiplyAdd(fx, v001 - v000, v000); var c1 = Fma.MultiplyAdd(fx, v011 - v010, v010);
                var c2 = Fma.MultiplyAdd(fx, v101 - v100, v100); var c3 = Fma.MultiplyAdd(fx, v111 - v110, v110);
                var e0 = Fma.MultiplyAdd(fy, c1 - c0, c0); var e1 = Fma.MultiplyAdd(fy, c3 - c2, c2);
                (Fma.MultiplyAdd(fz, e1 - e0, e0)).Store(po + o);
            }
        }
        return done;
    }

    /// <summary>
    /// Resamples a field to a finer grid: fine voxel x reads the coarse field at x * factors (voxel units), trilinear with
    /// zero padding (DIPY's resample_displacement_field). Values are world mm, so they are not rescaled.
    /// </summary>
    public static void Expand(float[] coarse, FieldGrid cg, FieldGrid fg, double[] factors, float[] fine, int maxDegree)
    {
        // InterpolateZeroPadded at (i f0, j f1, k f2), with what depends only on the column (x corners and weights)
        // computed once and what depends only on the row (y/z corners and weights) once per row. The same products
        // and sums in the same order: a zero-weight corner adds a signed zero to a sum that started at +0, which
        // changes no bit, so the per-voxel skips of zero weights need not be kept.
        int nx = fg.NX, ny = fg.NY, cx = cg.NX, cy = cg.NY, cz = cg.NZ;
        var i0s = new int[nx];
        var wa = new double[nx]; var wb = new double[nx];
        var va = new bool[nx]; var vb = new bool[nx];
        var inX = new bool[nx];
        for (int i = 0; i < nx; i++)
        {
            double x = i * factors[0];
            inX[i] = x > -1 && x < cx;
            int i0 = (int)Math.Floor(x);
            double fx = x - i0;
            i0s[i] = i0; wa[i] = 1 - fx; wb[i] = fx;
            va[i] = i0 >= 0 && i0 < cx; vb[i] = i0 + 1 >= 0 && i0 + 1 < cx;
        }
        SliceIterator.For(fg.Rows, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (r) =>
        {
            int j = r % ny, k = r / ny;
            double y = j * factors[1], z = k * factors[2];
            int o = 3 * r * nx;
            if (!(y > -1 && z > -1 && y < cy && z < cz))
            {
                Array.Clear(fine, o, 3 * nx);
                return;
            }
            int j0 = (int)Math.Floor(y), k0 = (int)Math.Floor(z);
            double fy = y - j0, fz = z - k0;
            Span<int> rowBase = stackalloc int[4];
            Span<double> wyz = stackalloc double[4];
            int nc = 0;
            for (int dk = 0; dk < 2; dk++)
            {
                int kk = k0 + dk;
                double wz = dk == 0 ? 1 - fz : fz;
                if (kk < 0 || kk >= cz) continue;
                for (int dj = 0; dj < 2; dj++)
                {
                    int jj = j0 + dj;
                    if (jj < 0 || jj >= cy) continue;
                    rowBase[nc] = 3 * (kk * cy + jj) * cx;
                    wyz[nc] = wz * (dj == 0 ? 1 - fy : fy);
                    nc++;
                }
            }
            for (int i = 0; i < nx; i++, o += 3)
            {
                double ox = 0, oy = 0, oz = 0;
                if (inX[i])
                {
                    int c0 = 3 * i0s[i];
                    for (int c = 0; c < nc; c++)
                    {
                        int b = rowBase[c] + c0;
                        if (va[i]) { double w = wyz[c] * wa[i]; ox += w * coarse[b]; oy += w * coarse[b + 1]; oz += w * coarse[b + 2]; }
                        if (vb[i]) { double w = wyz[c] * wb[i]; ox += w * coarse[b + 3]; oy += w * coarse[b + 4]; oz += w * coarse[b + 5]; }
                    }
                }
                fine[o] = (float)ox; fine[o + 1] = (float)oy; fine[o + 2] = (float)oz;
            }
        });
    }

    /// <summary>Zeroes the vectors on the outer voxel layer of every face (x and y faces only in 2D), as DIPY does to each step.</summary>
    public static void ZeroBoundary(float[] f, FieldGrid g)
    {
        int nx = g.NX, ny = g.NY, nz = g.NZ;
        for (int k = 0; k < nz; k++)
            for (int j = 0; j < ny; j++)
            {
                int row = 3 * (k * ny + j) * nx;
                bool whole = j == 0 || j == ny - 1 || (!g.TwoD && (k == 0 || k == nz - 1));
                if (whole) Array.Clear(f, row, 3 * nx);
                else
                {
                    f[row] = f[row + 1] = f[row + 2] = 0;
                    int e = row + 3 * (nx - 1);
                    f[e] = f[e + 1] = f[e + 2] = 0;
                }
            }
    }

    /// <summary>Largest voxel-unit length |W v| over the field (row partials, order-independent max).</summary>
    public static double MaxVoxelNorm(float[] f, FieldGrid g, double[] rowMax, int maxDegree)
    {
        int nx = g.NX;
        var w = g.W;
        SliceIterator.For(g.Rows, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (r) =>
        {
            // the largest squared length, square-rooted once: sqrt is correctly rounded and monotonic, so this is
            // exactly the largest of the per-voxel lengths
            double m = 0;
            int o = 3 * r * nx, i = 0;
            if (Avx.IsSupported) i = MaxSquaredNormSimd(f, o, nx, w, ref m);
            o += 3 * i;
            for (; i < nx; i++, o += 3)
            {
                double x = f[o], y = f[o + 1], z = f[o + 2];
                double a = w[0] * x + w[1] * y + w[2] * z, b = w[3] * x + w[4] * y + w[5] * z, c = w[6] * x + w[7] * y + w[8] * z;
                double n = a * a + b * b + c * c;
                if (n > m) m = n;
            }
            rowMax[r] = Math.Sqrt(m);
        });
        double max = 0;
        for (int r = 0; r < g.Rows; r++) if (rowMax[r] > max) max = rowMax[r];
        return max;
    }

    /// <summary>
    /// det(I + Df) of the map x -> x + f(x) in world coordinates, times <paramref name="linearDet"/> (the prealign's).
    /// Derivatives along voxel axes are numpy.gradient's (central inside, one-sided on the faces), taken to world
    /// axes with W (chain rule). 2D uses the 2x2 block.
    /// </summary>
    public static void JacobianDeterminant(float[] f, FieldGrid g, double linearDet, float[] dst, int maxDegree)
    {
        int nx = g.NX, ny = g.NY, nz = g.NZ;
        var w = g.W;
        bool twoD = g.TwoD;
        SliceIterator.For(g.Rows, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (r) =>
        {
            int j = r % ny, k = r / ny;
            Span<double> dv = stackalloc double[9]; // dv[a*3+c] = d f_a / d index_c
            for (int i = 0; i < nx; i++)
            {
                int v = (k * ny + j) * nx + i;
                Deriv(f, v, i, nx, 1, dv, 0);
                Deriv(f, v, j, ny, nx, dv, 1);
                if (twoD) { dv[2] = dv[5] = dv[8] = 0; } else Deriv(f, v, k, nz, nx * ny, dv, 2);
                // J[a][b] = delta_ab + sum_c dv[a][c] W[c][b]
                double j00 = 1 + dv[0] * w[0] + dv[1] * w[3] + dv[2] * w[6];
                double j01 = dv[0] * w[1] + dv[1] * w[4] + dv[2] * w[7];
                double j10 = dv[3] * w[0] + dv[4] * w[3] + dv[5] * w[6];
                double j11 = 1 + dv[3] * w[1] + dv[4] * w[4] + dv[5] * w[7];
                double det;
                if (twoD) det = j00 * j11 - j01 * j10;
                else
                {
                    double j02 = dv[0] * w[2] + dv[1] * w[5] + dv[2] * w[8];
                    double j12 = dv[3] * w[2] + dv[4] * w[5] + dv[5] * w[8];
                    double j20 = dv[6] * w[0] + dv[7] * w[3] + dv[8] * w[6];
                    double j21 = dv[6] * w[1] + dv[7] * w[4] + dv[8] * w[7];
                    double j22 = 1 + dv[6] * w[2] + dv[7] * w[5] + dv[8] * w[8];
                    det = j00 * (j11 * j22 - j12 * j21) - j01 * (j10 * j22 - j12 * j20) + j02 * (j10 * j21 - j11 * j20);
                }
                dst[v] = (float)(det * linearDet);
            }
        });
    }

    private static void Deriv(float[] f, int v, int pos, int n, int stride, Span<double> dv, int c)
    {
        if (n == 1) { dv[c] = dv[3 + c] = dv[6 + c] = 0; return; }
        int lo = pos > 0 ? v - stride : v, hi = pos < n - 1 ? v + stride : v;
        double h = (pos > 0 && pos < n - 1) ? 0.5 : 1.0;
        for (int a = 0; a < 3; a++) dv[a * 3 + c] = h * (f[3 * hi + a] - f[3 * lo + a]);
    }
}
