using System.Globalization;
using RegPS.Engine.Images;
using RegPS.Engine.IO;

namespace RegPS.Engine.TransformFiles;

/// <summary>
/// One transform as ITK stores it in any of its files (text, MATLAB .mat, HDF5): a type name such as
/// <c>Euler3DTransform_double_3_3</c>, its Parameters and its FixedParameters. Everything is in ITK's LPS millimetres
/// and maps a fixed (reference) point to a moving point.
/// </summary>
public sealed record ItkTransformRecord(string Type, double[] Parameters, double[] FixedParameters)
{
    /// <summary>The class part of the type (<c>Euler3DTransform</c> of <c>Euler3DTransform_double_3_3</c>).</summary>
    public string ClassName => Type.Split('_')[0];

    /// <summary>The dimension the type name states (its last number), or 0 when it states none.</summary>
    public int Dimension
    {
        get
        {
            var parts = Type.Split('_');
            return parts.Length >= 2 && int.TryParse(parts[^1], NumberStyles.None, CultureInfo.InvariantCulture, out int d) ? d : 0;
        }
    }

    public bool IsComposite => ClassName == "CompositeTransform";

    public bool IsDisplacementField => ClassName is "DisplacementFieldTransform" or "GaussianExponentialDiffeomorphicTransform"
        or "GaussianSmoothingOnUpdateDisplacementFieldTransform" or "BSplineSmoothingOnUpdateDisplacementFieldTransform";

    /// <summary>The classes <see cref="ToLpsMatrix"/> understands.</summary>
    public static readonly IReadOnlyList<string> LinearClasses = new[]
    {
        "AffineTransform", "MatrixOffsetTransformBase", "Euler3DTransform", "VersorRigid3DTransform", "Similarity3DTransform",
        "ScaleVersor3DTransform", "TranslationTransform", "IdentityTransform", "Euler2DTransform", "Rigid2DTransform", "Similarity2DTransform",
    };

    /// <summary>
    /// The LPS matrix of a linear ITK transform: every ITK linear transform is y = M (x - c) + t + c with c the
    /// FixedParameters' centre; the classes differ only in how the Parameters give M and t.
    /// <list type="bullet">
    /// <item>AffineTransform / MatrixOffsetTransformBase: M row-major (d*d values), then t (d).</item>
    /// <item>Euler3DTransform: angles (x, y, z) in radians, then t; M = Rz Rx Ry, or Rz Ry Rx when the optional 4th fixed
    /// parameter (ComputeZYX) is 1.</item>
    /// <item>VersorRigid3DTransform: the versor's vector part (x, y, z; w = sqrt(1 - |v|^2)), then t; Similarity3DTransform
    /// adds a scale s (M = s R); ScaleVersor3DTransform adds three scales (M = R + diag(s) - I, ITK's definition).</item>
    /// <item>TranslationTransform: t only (no centre). IdentityTransform: nothing.</item>
    /// <item>Euler2DTransform / Rigid2DTransform: angle, then t; Similarity2DTransform: scale, angle, then t.</item>
    /// </list>
    /// </summary>
    public Matrix4 ToLpsMatrix(string path)
    {
        string cls = ClassName;
        int d = Dimension;
        if (!LinearClasses.Contains(cls))
            throw new ImageFormatException(path, $"unsupported transform type '{Type}' (RegPS reads {string.Join(", ", LinearClasses)}, DisplacementFieldTransform and CompositeTransform)");
        if (d is not (2 or 3)) throw new ImageFormatException(path, $"transform type '{Type}' does not name a dimension of 2 or 3");
        var p = Parameters;
        var m = new double[9];
        m[0] = m[4] = m[8] = 1;
        var t = new double[3];
        var c = new double[3];

        void Need(int n)
        {
            if (p.Length != n) throw new ImageFormatException(path, $"expected {n} Parameters for {Type}, found {p.Length}");
        }
        void Centre(int min, int max)
        {
            var f = FixedParameters;
            if (f.Length == 0) return; // no centre given: ITK's default is the origin
            if (f.Length < min || f.Length > max) throw new ImageFormatException(path, $"expected {min} FixedParameters for {Type}, found {f.Length}");
            for (int i = 0; i < d; i++) c[i] = f[i];
        }
        void Translation(int at)
        {
            for (int i = 0; i < d; i++) t[i] = p[at + i];
        }
        void Rotation2D(double angle, double s)
        {
            double co = Math.Cos(angle), si = Math.Sin(angle);
            m[0] = s * co; m[1] = -s * si; m[3] = s * si; m[4] = s * co;
        }

        switch (cls)
        {
            case "IdentityTransform":
                Need(0);
                break;
            case "TranslationTransform":
                Need(d);
                Translation(0);
                break;
            case "AffineTransform" or "MatrixOffsetTransformBase":
                Need(d * d + d);
                for (int i = 0; i < d; i++) for (int j = 0; j < d; j++) m[i * 3 + j] = p[i * d + j];
                Translation(d * d);
                Centre(d, d);
                break;
            case "Euler3DTransform":
                RequireDim(path, 3);
                Need(6);
                Centre(3, 4);
                bool zyx = FixedParameters.Length == 4 && FixedParameters[3] != 0;
                Euler(p[0], p[1], p[2], zyx, m);
                Translation(3);
                break;
            case "VersorRigid3DTransform" or "Similarity3DTransform" or "ScaleVersor3DTransform":
                RequireDim(path, 3);
                Need(cls switch { "VersorRigid3DTransform" => 6, "Similarity3DTransform" => 7, _ => 9 });
                Centre(3, 3);
                Versor(path, p[0], p[1], p[2], m);
                if (cls == "Similarity3DTransform") for (int i = 0; i < 9; i++) m[i] *= p[6];
                if (cls == "ScaleVersor3DTransform") for (int i = 0; i < 3; i++) m[i * 4] += p[6 + i] - 1;
                Translation(3);
                break;
            case "Euler2DTransform" or "Rigid2DTransform":
                RequireDim(path, 2);
                Need(3);
                Centre(2, 2);
                Rotation2D(p[0], 1);
                Translation(1);
                break;
            case "Similarity2DTransform":
                RequireDim(path, 2);
                Need(4);
                Centre(2, 2);
                Rotation2D(p[1], p[0]);
                Translation(2);
                break;
        }
        return Transforms.TransformModel.Compose(m, t, c);
    }

    private void RequireDim(string path, int d)
    {
        if (Dimension != d) throw new ImageFormatException(path, $"'{Type}' must be {d}-D");
    }

    // ITK Euler3DTransform::ComputeMatrix: Rx, Ry, Rz about the axes; default order Z X Y (M = Rz Rx Ry), or Z Y X.
    private static void Euler(double ax, double ay, double az, bool zyx, double[] m)
    {
        double cx = Math.Cos(ax), sx = Math.Sin(ax), cy = Math.Cos(ay), sy = Math.Sin(ay), cz = Math.Cos(az), sz = Math.Sin(az);
        double[] rx = { 1, 0, 0, 0, cx, -sx, 0, sx, cx };
        double[] ry = { cy, 0, sy, 0, 1, 0, -sy, 0, cy };
        double[] rz = { cz, -sz, 0, sz, cz, 0, 0, 0, 1 };
        var r = zyx ? Mul(rz, Mul(ry, rx)) : Mul(rz, Mul(rx, ry));
        Array.Copy(r, m, 9);
    }

    private static double[] Mul(double[] a, double[] b)
    {
        var r = new double[9];
        for (int i = 0; i < 3; i++) for (int j = 0; j < 3; j++) for (int k = 0; k < 3; k++) r[i * 3 + j] += a[i * 3 + k] * b[k * 3 + j];
        return r;
    }

    // A unit quaternion (w, x, y, z) from its vector part, as the rotation matrix ITK's Versor::GetMatrix gives.
    private static void Versor(string path, double x, double y, double z, double[] m)
    {
        double n2 = x * x + y * y + z * z;
        if (n2 > 1 + 1e-9) throw new ImageFormatException(path, $"the versor ({x}, {y}, {z}) is longer than 1");
        double w = Math.Sqrt(Math.Max(0, 1 - n2));
        m[0] = 1 - 2 * (y * y + z * z); m[1] = 2 * (x * y - z * w); m[2] = 2 * (x * z + y * w);
        m[3] = 2 * (x * y + z * w); m[4] = 1 - 2 * (x * x + z * z); m[5] = 2 * (y * z - x * w);
        m[6] = 2 * (x * z - y * w); m[7] = 2 * (y * z + x * w); m[8] = 1 - 2 * (x * x + y * y);
    }

    /// <summary>An ITK affine record (<paramref name="className"/>_double_d_d, centre 0) for an LPS matrix.</summary>
    public static ItkTransformRecord FromLpsMatrix(Matrix4 lps, int dimension, string className = "MatrixOffsetTransformBase")
    {
        int d = dimension;
        var p = new double[d * d + d];
        for (int i = 0; i < d; i++)
        {
            for (int j = 0; j < d; j++) p[i * d + j] = lps[i, j];
            p[d * d + i] = lps[i, 3];
        }
        return new ItkTransformRecord($"{className}_double_{d}_{d}", p, new double[d]);
    }
}
