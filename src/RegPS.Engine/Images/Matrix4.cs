using System.Globalization;

namespace RegPS.Engine.Images;

/// <summary>
/// An immutable 4x4 double matrix, row-major, acting on column vectors (x, y, z, 1).
/// Used for grid-to-world matrices (RAS mm, NIfTI's convention) and world-to-world affine maps.
/// </summary>
public readonly struct Matrix4 : IEquatable<Matrix4>
{
    private readonly double[]? _m;

    public Matrix4(double[] rowMajor)
    {
        ArgumentNullException.ThrowIfNull(rowMajor);
        if (rowMajor.Length != 16) throw new ArgumentException("A 4x4 matrix needs 16 values.", nameof(rowMajor));
        _m = (double[])rowMajor.Clone();
    }

    public static Matrix4 Identity { get; } = new(new double[] { 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1 });

    public double this[int row, int col] => _m is null ? (row == col ? 1 : 0) : _m[row * 4 + col];

    public double[] ToArray() => _m is null ? Identity.ToArray() : (double[])_m.Clone();

    /// <summary>The matrix as a 4x4 jagged array (rows), handy for PowerShell and JSON.</summary>
    public double[][] ToRows()
    {
        var r = new double[4][];
        for (int i = 0; i < 4; i++) r[i] = new[] { this[i, 0], this[i, 1], this[i, 2], this[i, 3] };
        return r;
    }

    public static Matrix4 FromRows(double[][] rows)
    {
        if (rows.Length != 4 || rows.Any(r => r.Length != 4)) throw new ArgumentException("A 4x4 matrix needs 4 rows of 4 values.");
        return new Matrix4(rows.SelectMany(r => r).ToArray());
    }

    public static Matrix4 Translation(double x, double y, double z) =>
        new(new double[] { 1, 0, 0, x, 0, 1, 0, y, 0, 0, 1, z, 0, 0, 0, 1 });

    public static Matrix4 Scaling(double x, double y, double z) =>
        new(new double[] { x, 0, 0, 0, 0, y, 0, 0, 0, 0, z, 0, 0, 0, 0, 1 });

    public static Matrix4 operator *(Matrix4 a, Matrix4 b)
    {
        var r = new double[16];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
            {
                double s = 0;
                for (int k = 0; k < 4; k++) s += a[i, k] * b[k, j];
                r[i * 4 + j] = s;
            }
        return new Matrix4(r);
    }

    /// <summary>Applies the matrix to the point (x, y, z, 1).</summary>
    public (double X, double Y, double Z) Apply(double x, double y, double z) =>
        (this[0, 0] * x + this[0, 1] * y + this[0, 2] * z + this[0, 3],
         this[1, 0] * x + this[1, 1] * y + this[1, 2] * z + this[1, 3],
         this[2, 0] * x + this[2, 1] * y + this[2, 2] * z + this[2, 3]);

    /// <summary>Applies only the linear 3x3 part (a direction, not a point).</summary>
    public (double X, double Y, double Z) ApplyLinear(double x, double y, double z) =>
        (this[0, 0] * x + this[0, 1] * y + this[0, 2] * z,
         this[1, 0] * x + this[1, 1] * y + this[1, 2] * z,
         this[2, 0] * x + this[2, 1] * y + this[2, 2] * z);

    public double Determinant3 =>
        this[0, 0] * (this[1, 1] * this[2, 2] - this[1, 2] * this[2, 1])
        - this[0, 1] * (this[1, 0] * this[2, 2] - this[1, 2] * this[2, 0])
        + this[0, 2] * (this[1, 0] * this[2, 1] - this[1, 1] * this[2, 0]);

    public bool IsFinite
    {
        get
        {
            for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) if (!double.IsFinite(this[i, j])) return false;
            return true;
        }
    }

    /// <summary>Inverse by Gauss-Jordan elimination with partial pivoting; throws when singular.</summary>
    public Matrix4 Inverse()
    {
        if (!TryInverse(out var inv)) throw new InvalidOperationException("The matrix is singular and has no inverse.");
        return inv;
    }

    public bool TryInverse(out Matrix4 inverse)
    {
        var a = new double[4, 8];
        for (int i = 0; i < 4; i++)
        {
            for (int j = 0; j < 4; j++) a[i, j] = this[i, j];
            a[i, 4 + i] = 1;
        }
        double scale = 0;
        for (int i = 0; i < 3; i++) for (int j = 0; j < 3; j++) scale = Math.Max(scale, Math.Abs(this[i, j]));
        for (int c = 0; c < 4; c++)
        {
            int p = c;
            for (int r = c + 1; r < 4; r++) if (Math.Abs(a[r, c]) > Math.Abs(a[p, c])) p = r;
            if (Math.Abs(a[p, c]) <= 1e-12 * Math.Max(scale, 1e-300) || !double.IsFinite(a[p, c]))
            {
                inverse = Identity;
                return false;
            }
            if (p != c) for (int j = 0; j < 8; j++) (a[p, j], a[c, j]) = (a[c, j], a[p, j]);
            double d = a[c, c];
            for (int j = 0; j < 8; j++) a[c, j] /= d;
            for (int r = 0; r < 4; r++)
            {
                if (r == c) continue;
                double f = a[r, c];
                if (f == 0) continue;
                for (int j = 0; j < 8; j++) a[r, j] -= f * a[c, j];
            }
        }
        var m = new double[16];
        for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) m[i * 4 + j] = a[i, 4 + j];
        inverse = new Matrix4(m);
        return true;
    }

    public double MaxAbsDifference(Matrix4 other)
    {
        double d = 0;
        for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) d = Math.Max(d, Math.Abs(this[i, j] - other[i, j]));
        return d;
    }

    public bool Equals(Matrix4 other) => MaxAbsDifference(other) == 0;
    public override bool Equals(object? obj) => obj is Matrix4 m && Equals(m);
    public override int GetHashCode()
    {
        var h = new HashCode();
        for (int i = 0; i < 16; i++) h.Add(this[i / 4, i % 4]);
        return h.ToHashCode();
    }
    public static bool operator ==(Matrix4 a, Matrix4 b) => a.Equals(b);
    public static bool operator !=(Matrix4 a, Matrix4 b) => !a.Equals(b);

    public override string ToString()
    {
        var rows = new string[4];
        var self = this;
        for (int i = 0; i < 4; i++)
        {
            int r = i;
            rows[i] = string.Join(" ", Enumerable.Range(0, 4).Select(j => self[r, j].ToString("0.######", CultureInfo.InvariantCulture)));
        }
        return "[" + string.Join("; ", rows) + "]";
    }
}
