using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using RegPS.Engine.Filters;
using RegPS.Engine.Images;

namespace RegPS.Engine.Registration;

/// <summary>
/// Same-contrast registration of many volumes to one reference by least squares, the fast path of motion correction
/// (SPM Realign's approach, solved as Baker and Matthews' inverse-compositional Gauss-Newton).
/// <para><b>What it minimises.</b> Over reference voxels x_i (interior, inside the mask), with M the volume and R the
/// reference both smoothed by the same Gaussian: sum_i (M(A x_i) - s R(x_i) - o)^2, A the reference-world -> volume-world
/// matrix (rigid, translation or affine), s and o an intensity gain and offset fitted jointly (so a global signal drift
/// between volume and reference does not pull the motion; minimising over s and o is least squares against the best
/// linear intensity fit, which makes the criterion close to maximising the correlation of M(A x) with R).</para>
/// <para><b>How.</b> Inverse compositional: the change is modelled on the reference side, R(W(x; dp)) ~ M(A x) with W a
/// small transform of the reference world about its centre c, linearised at dp = 0, so the Jacobian
/// J_i = [grad R(x_i) . dW/dp, R(x_i), 1] and the Gauss-Newton matrix H = sum J_i J_i' are computed once per reference
/// and shared by every volume. Each iteration only samples the volume at A x_i (trilinear), forms e_i = M(A x_i) - R(x_i)
/// and solves H [dp, s - 1, o] = sum J_i e_i; then A &lt;- A W(dp)^-1 (for a rigid A this stays exactly rigid). Points
/// that fall outside the volume are left out of both sums (their J J' is subtracted from H for that iteration).
/// Iterations stop when the update moves no point of a 50 mm sphere by more than <see cref="Tolerance"/> mm.</para>
/// <para><b>Threads.</b> Prepared data are read-only; each volume is aligned on one thread with a <see cref="Workspace"/>
/// it owns, sums run in point order in double, so a volume's result does not depend on the thread count.</para>
/// </summary>
internal sealed class LeastSquaresAligner
{
    /// <summary>Largest point displacement (mm, on a 50 mm sphere) of an update below which iterations stop.</summary>
    public const double Tolerance = 5e-4;

    private readonly Grid _refGrid;
    private readonly TransformType _type;
    private readonly int _geom;          // geometric parameters: 3, 6 or 12
    private readonly int _np;            // + gain and offset
    private readonly int _n;             // sample points
    private readonly float[] _ijk;       // reference voxel index of each point, 3 per point
    private readonly float[] _r;         // smoothed reference value at each point
    private readonly float[] _j;         // Jacobian rows, _np per point
    private readonly double[] _h;        // H = sum J J' over all points, row-major _np x _np
    private readonly double[] _c;        // centre of rotation (reference world)
    private readonly double[] _sigmas;   // smoothing of the volumes (voxels of the volume grid)
    private readonly int _maxIterations;

    public LeastSquaresAligner(Image reference, Image? mask, TransformType type, double sigmaMm, Grid volumeGrid, double[] centre, int maxSamples, int maxIterations = 30)
    {
        _refGrid = reference.Grid;
        _type = type;
        _geom = type switch { TransformType.Translation => 3, TransformType.Rigid => 6, TransformType.Affine => 12, _ => throw new ArgumentOutOfRangeException(nameof(type)) };
        _np = _geom + 2;
        _c = centre;
        _maxIterations = maxIterations;
        _sigmas = SigmasFor(volumeGrid, sigmaMm);

        var g = _refGrid;
        int nx = g.NX, ny = g.NY, nz = g.NZ;
        var rs = (float[])reference.Buffer.Clone();
        if (sigmaMm > 0) Gaussian.SmoothInPlace(rs, nx, ny, nz, SigmasFor(g, sigmaMm), 1);

        // World gradient = (voxel -> world linear part)^-T times the voxel gradient (central differences).
        var w2g = g.WorldToGrid;
        var gx = new double[3, 3];
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++) gx[a, b] = w2g[b, a]; // transpose of the world -> voxel linear part

        // Candidates: interior voxels inside the mask whose world gradient is not negligible (the flat background moves
        // nothing); above 2% of the 99th percentile of the gradient magnitude.
        var candidates = new List<int>();
        var magnitude = new List<float>();
        var grad = new float[3 * nx * ny * nz];
        for (int k = 1; k < nz - 1; k++)
            for (int j = 1; j < ny - 1; j++)
                for (int i = 1; i < nx - 1; i++)
                {
                    int idx = g.Index(i, j, k);
                    double di = 0.5 * (rs[idx + 1] - rs[idx - 1]);
                    double dj = 0.5 * (rs[idx + nx] - rs[idx - nx]);
                    double dk = 0.5 * (rs[idx + nx * ny] - rs[idx - nx * ny]);
                    double wx = gx[0, 0] * di + gx[0, 1] * dj + gx[0, 2] * dk;
                    double wy = gx[1, 0] * di + gx[1, 1] * dj + gx[1, 2] * dk;
                    double wz = gx[2, 0] * di + gx[2, 1] * dj + gx[2, 2] * dk;
                    grad[3 * idx] = (float)wx; grad[3 * idx + 1] = (float)wy; grad[3 * idx + 2] = (float)wz;
                    // A point of this voxel's cell (up to +1 on each axis) must have its 8 corners in the interior.
                    if (i > nx - 3 || j > ny - 3 || k > nz - 3) continue;
                    if (mask is not null && mask.Buffer[idx] == 0) continue;
                    candidates.Add(idx);
                    magnitude.Add((float)Math.Sqrt(wx * wx + wy * wy + wz * wz));
                }
        var sortedMagnitude = magnitude.ToArray();
        Array.Sort(sortedMagnitude);
        float floor = sortedMagnitude.Length == 0 ? 0 : 0.02f * sortedMagnitude[(int)(0.99 * (sortedMagnitude.Length - 1))];
        var chosen = new List<int>();
        for (int q = 0; q < candidates.Count; q++) if (magnitude[q] > floor) chosen.Add(candidates[q]);
        // More than maxSamples: every step-th in index order (spread over the whole volume; deterministic).
        if (maxSamples > 0 && chosen.Count > maxSamples)
        {
            double step = chosen.Count / (double)maxSamples;
            var thinned = new List<int>(maxSamples);
            for (int q = 0; q < maxSamples; q++) thinned.Add(chosen[(int)(q * step)]);
            chosen = thinned;
        }

        var ijk = new List<float>(3 * chosen.Count);
        var rv = new List<float>(chosen.Count);
        var jac = new List<float>(_np * chosen.Count);
        var row = new double[_np];
        // Each point sits at a random offset in [0, 1) voxel from its voxel (fixed seed, in point order), and the
        // reference and its gradient are interpolated there (trilinear). Samples on the grid nodes would compare the
        // reference's nodes, unblurred, with the volume interpolated between its nodes, blurred by an amount that depends
        // on the sub-voxel shift; least squares then favours the shifts whose blur matches (measured: a bias of 0.2 mm
        // at 4 mm voxels). At random offsets both sides are interpolated alike whatever the shift (as DIPY's and RegPS's
        // MI engine sample off the grid).
        var rng = new Random(20240517);
        foreach (int idx in chosen)
                {
                    int i0 = idx % nx, j0 = idx / nx % ny, k0 = idx / (nx * ny);
                    double i = (float)(i0 + rng.NextDouble()), j = (float)(j0 + rng.NextDouble()), k = (float)(k0 + rng.NextDouble());
                    double fx = i - i0, fy = j - j0, fz = k - k0;
                    double Lerp(float[] arr, int stride, int comp)
                    {
                        int q0 = idx * stride + comp, sx = stride, sy = stride * nx, sz = stride * nx * ny;
                        double c00 = arr[q0] + fx * (arr[q0 + sx] - arr[q0]);
                        double c10 = arr[q0 + sy] + fx * (arr[q0 + sy + sx] - arr[q0 + sy]);
                        double c01 = arr[q0 + sz] + fx * (arr[q0 + sz + sx] - arr[q0 + sz]);
                        double c11 = arr[q0 + sz + sy] + fx * (arr[q0 + sz + sy + sx] - arr[q0 + sz + sy]);
                        double v0 = c00 + fy * (c10 - c00), v1 = c01 + fy * (c11 - c01);
                        return v0 + fz * (v1 - v0);
                    }
                    double wx = Lerp(grad, 3, 0), wy = Lerp(grad, 3, 1), wz = Lerp(grad, 3, 2), rval = Lerp(rs, 1, 0);
                    var (x, y, z) = g.ToWorld(i, j, k);
                    double px = x - centre[0], py = y - centre[1], pz = z - centre[2];
                    row[0] = wx; row[1] = wy; row[2] = wz;
                    if (type == TransformType.Rigid)
                    {
                        // d/dw of R(x + w x (x - c)) = grad R . (w x p) = w . (p x grad R)
                        row[3] = py * wz - pz * wy;
                        row[4] = pz * wx - px * wz;
                        row[5] = px * wy - py * wx;
                    }
                    else if (type == TransformType.Affine)
                    {
                        // W(x) = x + D (x - c) + t: d/dD_ab = grad_a * p_b
                        double[] gw = { wx, wy, wz }, pp = { px, py, pz };
                        for (int a = 0; a < 3; a++)
                            for (int b = 0; b < 3; b++) row[3 + a * 3 + b] = gw[a] * pp[b];
                    }
                    row[_geom] = rval;
                    row[_geom + 1] = 1;
                    ijk.Add((float)i); ijk.Add((float)j); ijk.Add((float)k);
                    rv.Add((float)rval);
                    for (int q = 0; q < _np; q++) jac.Add((float)row[q]);
                }
        _n = rv.Count;
        if (_n < 4 * _np) throw new ArgumentException($"The reference has only {_n} usable voxels inside the mask; motion correction needs many more.");
        _ijk = ijk.ToArray();
        _r = rv.ToArray();
        _j = jac.ToArray();
        _h = new double[_np * _np];
        for (int p = 0; p < _n; p++) AddOuter(_h, _j, p * _np, _np, 1);
    }

    /// <summary>Sample points used per iteration.</summary>
    public int SampleCount => _n;

    private static double[] SigmasFor(Grid g, double sigmaMm)
    {
        var s = g.Spacing;
        return new[] { sigmaMm / s[0], sigmaMm / s[1], sigmaMm / s[2] };
    }

    /// <summary>Per-thread scratch: the smoothed volume and the small solver arrays; made once per thread, not per volume.</summary>
    public sealed class Workspace(int voxels, int np)
    {
        public readonly float[] Volume = new float[voxels];
        public readonly double[] B = new double[np];
        public readonly double[] H = new double[np * np];
        public readonly double[] L = new double[np * np];
        public readonly double[] X = new double[np];
    }

    public Workspace NewWorkspace(Grid volumeGrid) => new(volumeGrid.VoxelCount, _np);

    /// <summary>Aligns one volume (values at <paramref name="offset"/> in <paramref name="data"/>) starting from <paramref name="start"/>; returns A and the iterations used.</summary>
    public (Matrix4 Affine, int Iterations) Align(float[] data, int offset, Grid volGrid, Matrix4 start, Workspace ws, CancellationToken ct)
    {
        int vn = volGrid.VoxelCount;
        Array.Copy(data, offset, ws.Volume, 0, vn);
        if (_sigmas[0] > 0) Gaussian.SmoothInPlace(ws.Volume, volGrid.NX, volGrid.NY, volGrid.NZ, _sigmas, 1);
        var a = start;
        int it = 0;
        for (; it < _maxIterations; it++)
        {
            ct.ThrowIfCancellationRequested();
            var map = volGrid.WorldToGrid * a * _refGrid.GridToWorld;
            Accumulate(ws, map, volGrid);
            if (!Solve(ws)) break;
            var w = Update(ws.X);
            a = a * w.Inverse();
            if (Movement(w) < Tolerance) { it++; break; }
        }
        return (a, it);
    }

    /// <summary>
    /// B = sum J_i e_i over points inside the volume, H = the prepared sum minus J_i J_i' of the points outside.
    /// Trilinear sampling with the cell found by floor; a point is inside when its cell's 8 corners are.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Accumulate(Workspace ws, Matrix4 m, Grid vg)
    {
        int nx = vg.NX, ny = vg.NY, nz = vg.NZ, sxy = nx * ny;
        double m00 = m[0, 0], m01 = m[0, 1], m02 = m[0, 2], m03 = m[0, 3];
        double m10 = m[1, 0], m11 = m[1, 1], m12 = m[1, 2], m13 = m[1, 3];
        double m20 = m[2, 0], m21 = m[2, 1], m22 = m[2, 2], m23 = m[2, 3];
        var b = ws.B;
        Array.Clear(b);
        Array.Copy(_h, ws.H, _h.Length);
        int np = _np, n = _n;
        // Array data by reference: the (uint) test below keeps every volume read inside the array (the cell's 8 corners
        // are inside the volume), the point arrays are read at p < n, so no further bounds checks are needed.
        ref float vol = ref MemoryMarshal.GetArrayDataReference(ws.Volume);
        ref float ijk = ref MemoryMarshal.GetArrayDataReference(_ijk);
        ref float jac = ref MemoryMarshal.GetArrayDataReference(_j);
        ref float r = ref MemoryMarshal.GetArrayDataReference(_r);
        ref double bb = ref MemoryMarshal.GetArrayDataReference(b);
        for (int p = 0; p < n; p++)
        {
            double i = Unsafe.Add(ref ijk, 3 * p), j = Unsafe.Add(ref ijk, 3 * p + 1), k = Unsafe.Add(ref ijk, 3 * p + 2);
            double x = m00 * i + m01 * j + m02 * k + m03;
            double y = m10 * i + m11 * j + m12 * k + m13;
            double z = m20 * i + m21 * j + m22 * k + m23;
            int x0 = (int)Math.Floor(x), y0 = (int)Math.Floor(y), z0 = (int)Math.Floor(z);
            int o = p * np;
            if ((uint)x0 >= (uint)(nx - 1) || (uint)y0 >= (uint)(ny - 1) || (uint)z0 >= (uint)(nz - 1))
            {
                AddOuter(ws.H, _j, o, np, -1);
                continue;
            }
            double fx = x - x0, fy = y - y0, fz = z - z0;
            int q0 = (z0 * ny + y0) * nx + x0;
            ref float v0 = ref Unsafe.Add(ref vol, q0);
            ref float v1 = ref Unsafe.Add(ref vol, q0 + sxy);
            double a00 = v0, a01 = Unsafe.Add(ref v0, 1), a10 = Unsafe.Add(ref v0, nx), a11 = Unsafe.Add(ref v0, nx + 1);
            double b00 = v1, b01 = Unsafe.Add(ref v1, 1), b10 = Unsafe.Add(ref v1, nx), b11 = Unsafe.Add(ref v1, nx + 1);
            double c00 = a00 + fx * (a01 - a00);
            double c10 = a10 + fx * (a11 - a10);
            double c01 = b00 + fx * (b01 - b00);
            double c11 = b10 + fx * (b11 - b10);
            double c0 = c00 + fy * (c10 - c00), c1 = c01 + fy * (c11 - c01);
            double e = c0 + fz * (c1 - c0) - Unsafe.Add(ref r, p);
            ref float jp = ref Unsafe.Add(ref jac, o);
            for (int q = 0; q < np; q++) Unsafe.Add(ref bb, q) += Unsafe.Add(ref jp, q) * e;
        }
    }

    private static void AddOuter(double[] h, float[] jac, int o, int np, double sign)
    {
        for (int a = 0; a < np; a++)
        {
            double ja = sign * jac[o + a];
            for (int c = 0; c <= a; c++) h[a * np + c] += ja * jac[o + c];
        }
    }

    /// <summary>Solves H X = B by Cholesky on the lower triangle; false when H is not positive definite.</summary>
    private bool Solve(Workspace ws)
    {
        int n = _np;
        var h = ws.H;
        var l = ws.L;
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
            {
                double s = h[i * n + j];
                for (int k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
                if (i == j)
                {
                    if (!(s > 0)) return false;
                    l[i * n + i] = Math.Sqrt(s);
                }
                else l[i * n + j] = s / l[j * n + j];
            }
        var x = ws.X;
        for (int i = 0; i < n; i++)
        {
            double s = ws.B[i];
            for (int k = 0; k < i; k++) s -= l[i * n + k] * x[k];
            x[i] = s / l[i * n + i];
        }
        for (int i = n - 1; i >= 0; i--)
        {
            double s = x[i];
            for (int k = i + 1; k < n; k++) s -= l[k * n + i] * x[k];
            x[i] = s / l[i * n + i];
        }
        return true;
    }

    /// <summary>W(dp) as a world matrix about the centre: x -> c + t + L (x - c), L = exp([w]x) (Rodrigues) for a rigid update.</summary>
    private Matrix4 Update(double[] dp)
    {
        double tx = dp[0], ty = dp[1], tz = dp[2];
        var l = new double[] { 1, 0, 0, 0, 1, 0, 0, 0, 1 };
        if (_type == TransformType.Rigid)
        {
            double wx = dp[3], wy = dp[4], wz = dp[5];
            double th = Math.Sqrt(wx * wx + wy * wy + wz * wz);
            if (th > 0)
            {
                double ux = wx / th, uy = wy / th, uz = wz / th, s = Math.Sin(th), cc = 1 - Math.Cos(th);
                l = new[]
                {
                    1 + cc * (ux * ux - 1), cc * ux * uy - s * uz, cc * ux * uz + s * uy,
                    cc * ux * uy + s * uz, 1 + cc * (uy * uy - 1), cc * uy * uz - s * ux,
                    cc * ux * uz - s * uy, cc * uy * uz + s * ux, 1 + cc * (uz * uz - 1),
                };
            }
        }
        else if (_type == TransformType.Affine)
            for (int i = 0; i < 9; i++) l[i] += dp[3 + i];
        double[] c = _c;
        return new Matrix4(new[]
        {
            l[0], l[1], l[2], c[0] + tx - (l[0] * c[0] + l[1] * c[1] + l[2] * c[2]),
            l[3], l[4], l[5], c[1] + ty - (l[3] * c[0] + l[4] * c[1] + l[5] * c[2]),
            l[6], l[7], l[8], c[2] + tz - (l[6] * c[0] + l[7] * c[1] + l[8] * c[2]),
            0, 0, 0, 1,
        });
    }

    /// <summary>Largest displacement by <paramref name="w"/> of the centre and of points 50 mm from it along each axis.</summary>
    private double Movement(Matrix4 w)
    {
        double worst = 0;
        for (int d = 0; d < 4; d++)
        {
            double x = _c[0] + (d == 1 ? 50 : 0), y = _c[1] + (d == 2 ? 50 : 0), z = _c[2] + (d == 3 ? 50 : 0);
            var (px, py, pz) = w.Apply(x, y, z);
            worst = Math.Max(worst, Math.Sqrt((px - x) * (px - x) + (py - y) * (py - y) + (pz - z) * (pz - z)));
        }
        return worst;
    }
}
