using RegPS.Engine.Images;

namespace RegPS.Engine.Tests.Registration.Affine;

/// <summary>
/// A smooth synthetic "head": a sum of Gaussian blobs (fixed seed) inside a soft ellipsoid, defined as a continuous
/// function of world position, so a moved copy is sampled exactly (no interpolation error in the ground truth).
/// </summary>
internal sealed class Phantom
{
    private readonly double[] _cx, _cy, _cz, _s, _a;
    private readonly double[] _centre;
    private readonly double[] _radii;

    public Phantom(int seed, double[] centre, double[] radii, int blobs = 60)
    {
        var rng = new Random(seed);
        _centre = centre;
        _radii = radii;
        _cx = new double[blobs]; _cy = new double[blobs]; _cz = new double[blobs]; _s = new double[blobs]; _a = new double[blobs];
        for (int b = 0; b < blobs; b++)
        {
            _cx[b] = centre[0] + (rng.NextDouble() * 2 - 1) * radii[0] * 0.8;
            _cy[b] = centre[1] + (rng.NextDouble() * 2 - 1) * radii[1] * 0.8;
            _cz[b] = centre[2] + (rng.NextDouble() * 2 - 1) * radii[2] * 0.8;
            _s[b] = (0.08 + 0.12 * rng.NextDouble()) * radii[0];
            _a[b] = 0.3 + 0.7 * rng.NextDouble();
        }
    }

    /// <summary>Intensity at a world point: blobs plus a bright rim, fading to 0 outside the ellipsoid.</summary>
    public double Value(double x, double y, double z)
    {
        double ex = (x - _centre[0]) / _radii[0], ey = (y - _centre[1]) / _radii[1], ez = (z - _centre[2]) / _radii[2];
        double r = Math.Sqrt(ex * ex + ey * ey + ez * ez);
        double envelope = 1 / (1 + Math.Exp((r - 1) * 12));
        double v = 0.25;
        for (int b = 0; b < _a.Length; b++)
        {
            double dx = x - _cx[b], dy = y - _cy[b], dz = z - _cz[b];
            v += _a[b] * Math.Exp(-(dx * dx + dy * dy + dz * dz) / (2 * _s[b] * _s[b]));
        }
        double rim = 0.6 * Math.Exp(-(r - 0.95) * (r - 0.95) / 0.003);
        return envelope * v + rim;
    }

    /// <summary>Samples the phantom seen through a static-world -> moving-world map: image(y) = f(A^-1 y) on grid.</summary>
    public Image Sample(Grid grid, Matrix4 staticToMoving, Func<double, double>? remap = null)
    {
        var inv = staticToMoving.Inverse();
        var data = new float[grid.VoxelCount];
        for (int k = 0; k < grid.NZ; k++)
            for (int j = 0; j < grid.NY; j++)
                for (int i = 0; i < grid.NX; i++)
                {
                    var (wx, wy, wz) = grid.ToWorld(i, j, k);
                    var (sx, sy, sz) = inv.Apply(wx, wy, wz);
                    if (grid.Dimension == 2) sz = _centre[2];
                    double v = Value(sx, sy, sz);
                    data[grid.Index(i, j, k)] = (float)(remap is null ? v : remap(v));
                }
        return Image.FromVoxels(grid, data);
    }

    /// <summary>y = L (x - c) + t + c as a 4x4 world matrix.</summary>
    public static Matrix4 Centred(double[] linear3x3, double[] t, double[] c)
    {
        var m = new double[16];
        for (int i = 0; i < 3; i++)
        {
            double off = t[i] + c[i];
            for (int j = 0; j < 3; j++)
            {
                m[i * 4 + j] = linear3x3[i * 3 + j];
                off -= linear3x3[i * 3 + j] * c[j];
            }
            m[i * 4 + 3] = off;
        }
        m[15] = 1;
        return new Matrix4(m);
    }

    public static double[] Mul(double[] a, double[] b)
    {
        var r = new double[9];
        for (int i = 0; i < 3; i++) for (int j = 0; j < 3; j++) for (int k = 0; k < 3; k++) r[i * 3 + j] += a[i * 3 + k] * b[k * 3 + j];
        return r;
    }

    public static double[] RotZ(double deg) { double a = deg * Math.PI / 180, c = Math.Cos(a), s = Math.Sin(a); return new[] { c, -s, 0, s, c, 0, 0, 0, 1 }; }
    public static double[] RotX(double deg) { double a = deg * Math.PI / 180, c = Math.Cos(a), s = Math.Sin(a); return new[] { 1, 0, 0, 0, c, -s, 0, s, c }; }
    public static double[] RotY(double deg) { double a = deg * Math.PI / 180, c = Math.Cos(a), s = Math.Sin(a); return new[] { c, 0, s, 0, 1, 0, -s, 0, c }; }

    /// <summary>Mean over all static voxels of |A_est x - A_true x| (mm).</summary>
    public static double MeanDisplacementError(Grid staticGrid, Matrix4 estimated, Matrix4 truth)
    {
        double sum = 0;
        for (int k = 0; k < staticGrid.NZ; k++)
            for (int j = 0; j < staticGrid.NY; j++)
                for (int i = 0; i < staticGrid.NX; i++)
                {
                    var (x, y, z) = staticGrid.ToWorld(i, j, k);
                    var (a, b, c) = estimated.Apply(x, y, z);
                    var (d, e, f) = truth.Apply(x, y, z);
                    sum += Math.Sqrt((a - d) * (a - d) + (b - e) * (b - e) + (c - f) * (c - f));
                }
        return sum / staticGrid.VoxelCount;
    }
}
