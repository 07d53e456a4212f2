using RegPS.Engine.Images;
using RegPS.Engine.Registration;

namespace RegPS.Engine.Tests.Registration.Syn;

/// <summary>A smooth analytic displacement: a sum of Gaussian bumps e(p) = sum a_k exp(-|p - c_k|^2 / (2 s_k^2)), world mm.</summary>
internal sealed record Bumps((double X, double Y, double Z)[] Centers, double[] Sigmas, (double X, double Y, double Z)[] Amplitudes)
{
    public (double X, double Y, double Z) At(double x, double y, double z)
    {
        double ox = 0, oy = 0, oz = 0;
        for (int b = 0; b < Centers.Length; b++)
        {
            var c = Centers[b];
            double d2 = (x - c.X) * (x - c.X) + (y - c.Y) * (y - c.Y) + (z - c.Z) * (z - c.Z);
            double w = Math.Exp(-d2 / (2 * Sigmas[b] * Sigmas[b]));
            ox += Amplitudes[b].X * w; oy += Amplitudes[b].Y * w; oz += Amplitudes[b].Z * w;
        }
        return (ox, oy, oz);
    }

    /// <summary>Random bumps inside the middle of a grid's world box, each of amplitude `amplitude` mm.</summary>
    public static Bumps Random(int seed, Grid grid, int count, double amplitude, double sigma)
    {
        var rnd = new Random(seed);
        var lo = grid.ToWorld(0, 0, 0);
        var hi = grid.ToWorld(grid.NX - 1, grid.NY - 1, grid.NZ - 1);
        var c = new (double, double, double)[count];
        var a = new (double, double, double)[count];
        var s = new double[count];
        for (int b = 0; b < count; b++)
        {
            double t0 = 0.3 + 0.4 * rnd.NextDouble(), t1 = 0.3 + 0.4 * rnd.NextDouble(), t2 = 0.3 + 0.4 * rnd.NextDouble();
            c[b] = (lo.X + t0 * (hi.X - lo.X), lo.Y + t1 * (hi.Y - lo.Y), grid.Dimension == 2 ? 0 : lo.Z + t2 * (hi.Z - lo.Z));
            double ang = 2 * Math.PI * rnd.NextDouble(), el = grid.Dimension == 2 ? 0 : Math.Asin(2 * rnd.NextDouble() - 1);
            a[b] = (amplitude * Math.Cos(el) * Math.Cos(ang), amplitude * Math.Cos(el) * Math.Sin(ang), amplitude * Math.Sin(el));
            s[b] = sigma;
        }
        return new Bumps(c, s, a);
    }
}

internal static class SynTestData
{
    /// <summary>Smooth random blobs over a soft-edged ellipse/ellipsoid (a phantom with texture everywhere inside).</summary>
    public static Image Phantom(Grid grid, int seed, int blobs = 12)
    {
        var rnd = new Random(seed);
        var bc = new (double X, double Y, double Z, double S, double A)[blobs];
        for (int b = 0; b < blobs; b++)
            bc[b] = (grid.NX * (0.2 + 0.6 * rnd.NextDouble()), grid.NY * (0.2 + 0.6 * rnd.NextDouble()), grid.NZ * (0.2 + 0.6 * rnd.NextDouble()),
                2 + 0.06 * grid.NX * rnd.NextDouble(), 0.3 + 0.7 * rnd.NextDouble());
        var v = new float[grid.VoxelCount];
        for (int k = 0; k < grid.NZ; k++)
            for (int j = 0; j < grid.NY; j++)
                for (int i = 0; i < grid.NX; i++)
                {
                    double ex = (i - 0.5 * (grid.NX - 1)) / (0.38 * grid.NX), ey = (j - 0.5 * (grid.NY - 1)) / (0.36 * grid.NY);
                    double ez = grid.Dimension == 2 ? 0 : (k - 0.5 * (grid.NZ - 1)) / (0.36 * grid.NZ);
                    double rr = Math.Sqrt(ex * ex + ey * ey + ez * ez);
                    double body = 1 / (1 + Math.Exp((rr - 1) * 12));
                    double tex = 0;
                    foreach (var b in bc)
                    {
                        double d2 = (i - b.X) * (i - b.X) + (j - b.Y) * (j - b.Y) + (grid.Dimension == 2 ? 0 : (k - b.Z) * (k - b.Z));
                        tex += b.A * Math.Exp(-d2 / (2 * b.S * b.S));
                    }
                    v[grid.Index(i, j, k)] = (float)(body * (0.4 + tex));
                }
        return Image.FromVoxels(grid, v);
    }

    /// <summary>
    /// moving(z) = static(q + e(q)) with q = P^-1 z (world points), sampled at every moving-grid voxel by evaluating the
    /// static phantom's trilinear interpolation. The true static->moving map y -> P(y + f(y)) then satisfies
    /// f(y) + e(y + f(y)) = 0, which the tests check analytically.
    /// </summary>
    public static Image WarpedCopy(Image @static, Grid movingGrid, Bumps e, Matrix4 prealign)
    {
        var pinv = prealign.Inverse();
        var sg = @static.Grid;
        var v = new float[movingGrid.VoxelCount];
        var sdata = @static.ToArray();
        for (int k = 0; k < movingGrid.NZ; k++)
            for (int j = 0; j < movingGrid.NY; j++)
                for (int i = 0; i < movingGrid.NX; i++)
                {
                    var z = movingGrid.ToWorld(i, j, k);
                    var q = pinv.Apply(z.X, z.Y, z.Z);
                    var d = e.At(q.X, q.Y, q.Z);
                    var idx = sg.ToIndex(q.X + d.X, q.Y + d.Y, q.Z + d.Z);
                    v[movingGrid.Index(i, j, k)] = RegPS.Engine.Resampling.Linear.Trilinear(sdata, 0, sg.NX, sg.NY, sg.NZ, idx.X, idx.Y, sg.Dimension == 2 ? 0 : idx.Z, RegPS.Engine.Resampling.Boundary.ZeroPadded);
                }
        return Image.FromVoxels(movingGrid, v);
    }

    /// <summary>
    /// Median (over voxels where the static image exceeds 10% of its maximum) of the residual |W (f(y) + e(y + f(y)))|
    /// in voxels of the static grid: zero for the exact map.
    /// </summary>
    public static double MedianResidualVoxels(DiffeomorphicMap map, Image @static, Bumps e)
    {
        var g = @static.Grid;
        float max = @static.Range().Max;
        var res = new List<double>();
        for (int k = 0; k < g.NZ; k++)
            for (int j = 0; j < g.NY; j++)
                for (int i = 0; i < g.NX; i++)
                {
                    if (@static[i, j, k] <= 0.1 * max) continue;
                    var y = g.ToWorld(i, j, k);
                    var f = map.Forward[i, j, k];
                    var d = e.At(y.X + f.X, y.Y + f.Y, y.Z + f.Z);
                    var r = g.WorldToGrid.ApplyLinear(f.X + d.X, f.Y + d.Y, f.Z + d.Z);
                    res.Add(Math.Sqrt(r.X * r.X + r.Y * r.Y + r.Z * r.Z));
                }
        res.Sort();
        return res[res.Count / 2];
    }

    /// <summary>
    /// Mean distance in voxels between y and the round trip y -> z = P(y + f(y)) -> P^-1 z + g(P^-1 z) (g trilinearly
    /// interpolated on the reference grid), over voxels where the static image exceeds 10% of its maximum.
    /// </summary>
    public static double MeanRoundTripVoxels(DiffeomorphicMap map, Image @static)
    {
        var g = @static.Grid;
        float max = @static.Range().Max;
        var bw = map.Backward;
        double sum = 0; int n = 0;
        for (int k = 0; k < g.NZ; k++)
            for (int j = 0; j < g.NY; j++)
                for (int i = 0; i < g.NX; i++)
                {
                    if (@static[i, j, k] <= 0.1 * max) continue;
                    var y = g.ToWorld(i, j, k);
                    var f = map.Forward[i, j, k];
                    // P^-1 (P (y + f)) = y + f
                    double zx = y.X + f.X, zy = y.Y + f.Y, zz = y.Z + f.Z;
                    var idx = g.ToIndex(zx, zy, zz);
                    var b = InterpolateField(bw, idx.X, idx.Y, g.Dimension == 2 ? 0 : idx.Z);
                    var r = g.WorldToGrid.ApplyLinear(zx + b.X - y.X, zy + b.Y - y.Y, zz + b.Z - y.Z);
                    sum += Math.Sqrt(r.X * r.X + r.Y * r.Y + r.Z * r.Z);
                    n++;
                }
        return sum / n;
    }

    /// <summary>Plain trilinear interpolation of a field (clamped to the grid), written independently of the engine.</summary>
    public static (double X, double Y, double Z) InterpolateField(DisplacementField f, double x, double y, double z)
    {
        var g = f.Grid;
        x = Math.Clamp(x, 0, g.NX - 1); y = Math.Clamp(y, 0, g.NY - 1); z = Math.Clamp(z, 0, g.NZ - 1);
        int i0 = Math.Min((int)x, g.NX - 2 < 0 ? 0 : g.NX - 2), j0 = Math.Min((int)y, Math.Max(g.NY - 2, 0)), k0 = Math.Min((int)z, Math.Max(g.NZ - 2, 0));
        double fx = x - i0, fy = y - j0, fz = z - k0;
        double ox = 0, oy = 0, oz = 0;
        for (int dk = 0; dk < (g.NZ > 1 ? 2 : 1); dk++)
            for (int dj = 0; dj < 2; dj++)
                for (int di = 0; di < 2; di++)
                {
                    double w = (di == 0 ? 1 - fx : fx) * (dj == 0 ? 1 - fy : fy) * (g.NZ > 1 ? (dk == 0 ? 1 - fz : fz) : 1);
                    var v = f[i0 + di, j0 + dj, k0 + dk];
                    ox += w * v.X; oy += w * v.Y; oz += w * v.Z;
                }
        return (ox, oy, oz);
    }

    public static double Dice(Image a, Image b, float threshold)
    {
        int inter = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Grid.VoxelCount; i++)
        {
            bool x = a.Voxels[i] > threshold, y = b.Voxels[i] > threshold;
            if (x) na++;
            if (y) nb++;
            if (x && y) inter++;
        }
        return 2.0 * inter / (na + nb);
    }
}
