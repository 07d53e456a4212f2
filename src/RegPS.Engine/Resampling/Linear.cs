using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace RegPS.Engine.Resampling;

/// <summary>What a sample outside the source image gets.</summary>
public enum Boundary
{
    /// <summary>
    /// DIPY's rule: trilinear with zero padding, so points in (-1, n) still get the weights of their in-bounds
    /// corners; nearest is valid on [0, n-1].
    /// </summary>
    ZeroPadded,
    /// <summary>
    /// scipy.ndimage mode='constant' (what nibabel's resample_from_to uses): points outside [0, n-1] are 0,
    /// points inside are interpolated from in-bounds voxels only; nearest rounds ties up, as scipy does.
    /// </summary>
    Constant,
    /// <summary>
    /// The composition rule of SyN's fields: a point must lie in [0, n-1] on every axis (every corner with a non-zero
    /// weight exists), else the sample is zero and reported as outside.
    /// </summary>
    Inside,
    /// <summary>
    /// ITK's linear interpolator (antsApplyTransforms, transformix): the point is clamped into [0, n-1], so the edge
    /// value extends outwards; the caller decides where the image ends (see <see cref="SampleDomain"/>).
    /// </summary>
    Clamped,
}

/// <summary>
/// Linear interpolation, in one place: trilinear (bilinear when the image has one slice) of scalar images and of
/// displacement fields (3 interleaved float32 components per voxel, x fastest), under the boundary rule the caller
/// names with a <see cref="Boundary"/> value:
/// <list type="bullet">
/// <item><see cref="Boundary.ZeroPadded"/> (DIPY): points in (-1, n) blend the corners that exist with zeros.</item>
/// <item><see cref="Boundary.Constant"/> (scipy mode='constant', nibabel): 0 outside [0, n-1], in-bounds corners only.</item>
/// <item><see cref="Boundary.Inside"/> (SyN's composition): 0 and "outside" unless the point is in [0, n-1].</item>
/// <item><see cref="Boundary.Clamped"/> (ITK): the point is clamped into [0, n-1].</item>
/// </list>
/// <see cref="Sample"/> and <see cref="SampleField"/> take the rule as a value; they are inlined, so a constant rule
/// costs no branch. The rule's kernels below are what they dispatch to (hot loops may call them directly). Weights
/// and sums are double unless a kernel says otherwise; each kernel's arithmetic is fixed, so its bits are too.
/// </summary>
public static class Linear
{
    /// <summary>Trilinear sample of a scalar volume (from <paramref name="off"/>) at continuous voxel (x, y, z) under <paramref name="boundary"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sample(float[] d, int off, int nx, int ny, int nz, double x, double y, double z, Boundary boundary) => boundary switch
    {
        Boundary.ZeroPadded when off == 0 => ZeroPadded(d, nx, ny, nz, x, y, z),
        Boundary.ZeroPadded or Boundary.Constant => Trilinear(d, off, nx, ny, nz, x, y, z, boundary),
        Boundary.Clamped => Clamped(d, off, nx, ny, nz, x, y, z),
        _ => ScalarInside(d, off, nx, ny, nz, x, y, z),
    };

    /// <summary>
    /// Trilinear sample of a 3-component field at continuous voxel (x, y, z) under <paramref name="boundary"/>; false
    /// when the point is outside the rule's domain (the vector is then zero).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool SampleField(float[] f, int nx, int ny, int nz, double x, double y, double z, Boundary boundary,
        out double ox, out double oy, out double oz)
    {
        switch (boundary)
        {
            case Boundary.Inside: return FieldInside(f, nx, ny, nz, x, y, z, out ox, out oy, out oz);
            case Boundary.ZeroPadded:
                FieldZeroPadded(f, nx, ny, nz, x, y, z, out ox, out oy, out oz);
                return x > -1 && y > -1 && z > -1 && x < nx && y < ny && z < nz;
            case Boundary.Clamped:
                FieldClamped(f, 3, nx, ny, nz, x, y, z, out ox, out oy, out oz);
                return true;
            default: throw new ArgumentOutOfRangeException(nameof(boundary), boundary, "Fields are interpolated with the Inside, ZeroPadded or Clamped rule.");
        }
    }

    // ---------------------------------------------------------------- fields

    /// <summary>
    /// Trilinear interpolation of a 3-component field at continuous voxel (x, y, z) with the composition rule:
    /// the point must lie in [0, n-1] on every axis (all corners with a non-zero weight exist), else the result is
    /// zero and false is returned. DIPY asks for all 8 corners, which also rejects points exactly on the last
    /// voxel of an axis; accepting them keeps the far faces from being forced to zero (identical everywhere else).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool FieldInside(float[] f, int nx, int ny, int nz, double x, double y, double z,
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
    public static void FieldZeroPadded(float[] f, int nx, int ny, int nz, double x, double y, double z,
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
    /// ITK's rule for a field of <paramref name="components"/> (2 or 3) interleaved components: the point is clamped into
    /// [0, n-1] on every axis and the 8 corners blended (zero weights skipped).
    /// </summary>
    public static void FieldClamped(float[] d, int components, int nx, int ny, int nz, double i, double j, double k,
        out double dx, out double dy, out double dz)
    {
        ClampCorners(i, nx, out int i0, out int i1, out double fx);
        ClampCorners(j, ny, out int j0, out int j1, out double fy);
        ClampCorners(k, nz, out int k0, out int k1, out double fz);
        dx = 0; dy = 0; dz = 0;
        for (int c = 0; c < 8; c++)
        {
            double w = ((c & 1) != 0 ? fx : 1 - fx) * ((c & 2) != 0 ? fy : 1 - fy) * ((c & 4) != 0 ? fz : 1 - fz);
            if (w == 0) continue;
            int o = (((c & 4) != 0 ? k1 : k0) * ny + ((c & 2) != 0 ? j1 : j0)) * nx + ((c & 1) != 0 ? i1 : i0);
            o *= components;
            dx += w * d[o];
            dy += w * d[o + 1];
            if (components == 3) dz += w * d[o + 2];
        }
    }

    // ---------------------------------------------------------------- scalar images


    /// <summary>
    /// Scalar trilinear (bilinear when nz = 1) interpolation with DIPY's zero padding: partial weights in (-1, n).
    /// The fast path (all corners inside) has no per-corner tests.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ZeroPadded(float[] img, int nx, int ny, int nz, double x, double y, double z)
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
            return Trilinear(img, 0, nx, ny, nz, x, y, z, Boundary.ZeroPadded);
        }
    }

    /// <summary>
    /// Trilinear interpolation at continuous index (x, y, z). ZeroPadded: points in (-1, n) blend their in-bounds
    /// corners with zeros (DIPY). Constant: 0 outside [0, n-1], otherwise corners are clamped into the image.
    /// </summary>
    public static float Trilinear(float[] d, int off, int nx, int ny, int nz, double x, double y, double z, Boundary boundary)
    {
        if (boundary == Boundary.Constant)
        {
            const double tol = 1e-6;
            if (x < -tol || y < -tol || z < -tol || x > nx - 1 + tol || y > ny - 1 + tol || z > nz - 1 + tol) return 0f;
            x = Math.Clamp(x, 0, nx - 1); y = Math.Clamp(y, 0, ny - 1); z = Math.Clamp(z, 0, nz - 1);
        }
        else if (!(x > -1 && y > -1 && z > -1 && x < nx && y < ny && z < nz)) return 0f;
        int i0 = (int)Math.Floor(x), j0 = (int)Math.Floor(y), k0 = (int)Math.Floor(z);
        double fx = x - i0, fy = y - j0, fz = z - k0;
        double acc = 0;
        for (int dk = 0; dk < 2; dk++)
        {
            int k = k0 + dk;
            if (k < 0 || k >= nz) continue;
            double wz = dk == 0 ? 1 - fz : fz;
            if (wz == 0) continue;
            for (int dj = 0; dj < 2; dj++)
            {
                int j = j0 + dj;
                if (j < 0 || j >= ny) continue;
                double wy = wz * (dj == 0 ? 1 - fy : fy);
                if (wy == 0) continue;
                int rowBase = off + (k * ny + j) * nx;
                if (i0 >= 0) acc += wy * (1 - fx) * d[rowBase + i0];
                if (i0 + 1 < nx && fx != 0) acc += wy * fx * d[rowBase + i0 + 1];
            }
        }
        return (float)acc;
    }

    /// <summary>Bilinear interpolation at (x, y) in one slice, with the same boundary rules as <see cref="Trilinear"/>.</summary>
    public static float Bilinear(float[] d, int off, int nx, int ny, double x, double y, Boundary boundary)
    {
        if (boundary == Boundary.Constant)
        {
            const double tol = 1e-6;
            if (x < -tol || y < -tol || x > nx - 1 + tol || y > ny - 1 + tol) return 0f;
            x = Math.Clamp(x, 0, nx - 1); y = Math.Clamp(y, 0, ny - 1);
        }
        else if (!(x > -1 && y > -1 && x < nx && y < ny)) return 0f;
        int i0 = (int)Math.Floor(x), j0 = (int)Math.Floor(y);
        double fx = x - i0, fy = y - j0;
        double acc = 0;
        for (int dj = 0; dj < 2; dj++)
        {
            int j = j0 + dj;
            if (j < 0 || j >= ny) continue;
            double wy = dj == 0 ? 1 - fy : fy;
            if (wy == 0) continue;
            int rowBase = off + j * nx;
            if (i0 >= 0) acc += wy * (1 - fx) * d[rowBase + i0];
            if (i0 + 1 < nx && fx != 0) acc += wy * fx * d[rowBase + i0 + 1];
        }
        return (float)acc;
    }

    /// <summary>
    /// ITK's linear rule on a scalar volume: the point is clamped into [0, n-1]; x, then y, then z blends in double
    /// (a z weight of exactly 0 skips the second slice, so 2D images never read past theirs).
    /// </summary>
    public static float Clamped(float[] s, int o, int nx, int ny, int nz, double x, double y, double z)
    {
        ClampCorners(x, nx, out int x0, out int x1, out double fx);
        ClampCorners(y, ny, out int y0, out int y1, out double fy);
        ClampCorners(z, nz, out int z0, out int z1, out double fz);
        double c00 = s[o + (z0 * ny + y0) * nx + x0] * (1 - fx) + s[o + (z0 * ny + y0) * nx + x1] * fx;
        double c10 = s[o + (z0 * ny + y1) * nx + x0] * (1 - fx) + s[o + (z0 * ny + y1) * nx + x1] * fx;
        double c0 = c00 * (1 - fy) + c10 * fy;
        if (fz == 0) return (float)c0;
        double c01 = s[o + (z1 * ny + y0) * nx + x0] * (1 - fx) + s[o + (z1 * ny + y0) * nx + x1] * fx;
        double c11 = s[o + (z1 * ny + y1) * nx + x0] * (1 - fx) + s[o + (z1 * ny + y1) * nx + x1] * fx;
        return (float)(c0 * (1 - fz) + (c01 * (1 - fy) + c11 * fy) * fz);
    }

    /// <summary>The two neighbours of the clamped coordinate along one axis and the weight of the second.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void ClampCorners(double v, int n, out int a, out int b, out double f)
    {
        v = Math.Clamp(v, 0, n - 1);
        a = (int)Math.Floor(v);
        f = v - a;
        b = Math.Min(a + 1, n - 1);
    }

    /// <summary>A scalar volume under the Inside rule (0 outside [0, n-1]).</summary>
    private static float ScalarInside(float[] d, int off, int nx, int ny, int nz, double x, double y, double z)
    {
        if (!(x >= 0 && y >= 0 && z >= 0 && x <= nx - 1 && y <= ny - 1 && z <= nz - 1)) return 0f;
        return Clamped(d, off, nx, ny, nz, x, y, z);
    }
}
