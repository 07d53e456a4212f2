using RegPS.Engine.Images;

namespace RegPS.Engine.Registration;

/// <summary>
/// A world matrix split as M = T * R * Z * H: <see cref="Translation"/> (the matrix's translation column, mm),
/// rotation R = Rz(gamma) Rx(alpha) Ry(beta) with <see cref="RotationDegrees"/> = (alpha about x, beta about y,
/// gamma about z) in degrees (DIPY's Rigid3D and ITK Euler3D ZXY convention; a 2D map has only gamma),
/// scales Z = diag(<see cref="Scales"/>) (a reflection shows as a negative last scale), and a unit upper-triangular shear
/// H with <see cref="Shears"/> = (xy, xz, yz). All three vectors have 3 entries, also for 2D maps.
/// </summary>
public sealed record AffineDecomposition(double[] Translation, double[] RotationDegrees, double[] Scales, double[] Shears)
{
    /// <summary>Rotation matrix for angles in radians, R = Rz(g) Rx(a) Ry(b).</summary>
    internal static double[] RotationMatrix(double a, double b, double g)
    {
        double ca = Math.Cos(a), sa = Math.Sin(a), cb = Math.Cos(b), sb = Math.Sin(b), cg = Math.Cos(g), sg = Math.Sin(g);
        return new[]
        {
            cg * cb - sg * sa * sb, -sg * ca, cg * sb + sg * sa * cb,
            sg * cb + cg * sa * sb, cg * ca, sg * sb - cg * sa * cb,
            -ca * sb, sa, ca * cb,
        };
    }

    /// <summary>Builds the matrix back: T * R * diag(scales) * shear.</summary>
    public Matrix4 Recompose()
    {
        const double d2r = Math.PI / 180;
        var r = RotationMatrix(RotationDegrees[0] * d2r, RotationDegrees[1] * d2r, RotationDegrees[2] * d2r);
        var h = new double[] { 1, Shears[0], Shears[1], 0, 1, Shears[2], 0, 0, 1 };
        var m = new double[16];
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                double s = 0;
                for (int k = 0; k < 3; k++) s += r[i * 3 + k] * Scales[k] * h[k * 3 + j];
                m[i * 4 + j] = s;
            }
            m[i * 4 + 3] = Translation[i];
        }
        m[15] = 1;
        return new Matrix4(m);
    }

    /// <summary>Decomposes the 3x3 block by Gram-Schmidt (A = Q U, U upper triangular with positive diagonal).</summary>
    public static AffineDecomposition FromMatrix(Matrix4 m)
    {
        var col = new double[3][];
        for (int j = 0; j < 3; j++) col[j] = new[] { m[0, j], m[1, j], m[2, j] };
        var q = new double[3][];
        var u = new double[3, 3];
        for (int j = 0; j < 3; j++)
        {
            var v = (double[])col[j].Clone();
            for (int k = 0; k < j; k++)
            {
                double dot = q[k][0] * col[j][0] + q[k][1] * col[j][1] + q[k][2] * col[j][2];
                u[k, j] = dot;
                for (int i = 0; i < 3; i++) v[i] -= dot * q[k][i];
            }
            double n = Math.Sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
            if (n == 0 || !double.IsFinite(n)) throw new InvalidOperationException("The matrix is singular and cannot be decomposed.");
            u[j, j] = n;
            q[j] = new[] { v[0] / n, v[1] / n, v[2] / n };
        }
        // Q's columns are q[0..2]; make it a rotation (det +1) by flipping the last axis when needed.
        double det = q[0][0] * (q[1][1] * q[2][2] - q[1][2] * q[2][1]) - q[1][0] * (q[0][1] * q[2][2] - q[0][2] * q[2][1])
                     + q[2][0] * (q[0][1] * q[1][2] - q[0][2] * q[1][1]);
        if (det < 0)
        {
            for (int i = 0; i < 3; i++) q[2][i] = -q[2][i];
            for (int j = 0; j < 3; j++) u[2, j] = -u[2, j];
        }
        var scales = new[] { u[0, 0], u[1, 1], u[2, 2] };
        var shears = new[] { u[0, 1] / u[0, 0], u[0, 2] / u[0, 0], u[1, 2] / u[1, 1] };
        // R[i, j] = q[j][i]; R = Rz(g) Rx(a) Ry(b): R21 = sin a, R20 = -cos a sin b, R22 = cos a cos b, R01 = -sin g cos a, R11 = cos g cos a.
        double r21 = Math.Clamp(q[1][2], -1, 1);
        double alpha = Math.Asin(r21);
        double beta = Math.Atan2(-q[0][2], q[2][2]);
        double gamma = Math.Atan2(-q[1][0], q[1][1]);
        if (Math.Abs(Math.Cos(alpha)) < 1e-12)
        {
            // Gimbal lock (alpha = +-90 deg): only gamma +- beta is defined; put it all in gamma.
            beta = 0;
            gamma = Math.Atan2(q[0][1], q[0][0]);
        }
        const double r2d = 180 / Math.PI;
        return new AffineDecomposition(new[] { m[0, 3], m[1, 3], m[2, 3] }, new[] { alpha * r2d, beta * r2d, gamma * r2d }, scales, shears);
    }
}
