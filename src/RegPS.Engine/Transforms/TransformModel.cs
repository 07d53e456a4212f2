using RegPS.Engine.Registration;

namespace RegPS.Engine.Transforms;

/// <summary>
/// A parametric linear transform about a centre c: y = A(p) (x - c) + t(p) + c, in world millimetres.
/// Parameters are laid out as [angles (radians), scales, linear entries, translation (mm)]:
/// <list type="bullet">
/// <item>2D Translation (tx, ty); Rigid (phi, tx, ty); Similarity (phi, s, tx, ty); RigidScaling (phi, sx, sy, tx, ty);
/// Affine (a00, a01, a10, a11, tx, ty). 2D transforms act in the x-y plane; the z row stays identity.</item>
/// <item>3D Translation (tx, ty, tz); Rigid (alpha, beta, gamma, t) with R = Rz(gamma) Rx(alpha) Ry(beta) (DIPY's and ITK
/// Euler3D's ZXY order); Similarity adds s (A = s R); RigidScaling adds (sx, sy, sz) (A = S R, row i scaled by s_i, as
/// DIPY); Affine (a00..a22 row-major, tx, ty, tz).</item>
/// </list>
/// The derivative of y with respect to p_k is dA_k (x - c) + dt_k, so a whole-image gradient needs only the 3x3 matrix
/// sum of (moving gradient) x (x - c) and the vector sum of moving gradients: <see cref="Derivatives"/> returns dA_k, dt_k.
/// </summary>
internal sealed class TransformModel
{
    public TransformModel(TransformType type, int dimension)
    {
        if (dimension is not (2 or 3)) throw new ArgumentOutOfRangeException(nameof(dimension));
        Type = type;
        Dimension = dimension;
        (Angles, ScaleCount, LinearCount) = (type, dimension) switch
        {
            (TransformType.Translation, _) => (0, 0, 0),
            (TransformType.Rigid, 2) => (1, 0, 0),
            (TransformType.Rigid, _) => (3, 0, 0),
            (TransformType.Similarity, 2) => (1, 1, 0),
            (TransformType.Similarity, _) => (3, 1, 0),
            (TransformType.RigidScaling, 2) => (1, 2, 0),
            (TransformType.RigidScaling, _) => (3, 3, 0),
            (TransformType.Affine, 2) => (0, 0, 4),
            (TransformType.Affine, _) => (0, 0, 9),
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        };
        Count = Angles + ScaleCount + LinearCount + dimension;
    }

    public TransformType Type { get; }
    public int Dimension { get; }
    public int Count { get; }
    private int Angles { get; }
    private int ScaleCount { get; }
    private int LinearCount { get; }

    /// <summary>Parameters of the identity (zeros; ones for scales and the affine diagonal).</summary>
    public double[] Identity()
    {
        var p = new double[Count];
        for (int i = 0; i < ScaleCount; i++) p[Angles + i] = 1;
        if (LinearCount == 4) { p[0] = 1; p[3] = 1; }
        if (LinearCount == 9) { p[0] = 1; p[4] = 1; p[8] = 1; }
        return p;
    }

    /// <summary>
    /// Optimiser scaling: the optimiser works on u_k = p_k * scale_k, with angles, scales and linear entries multiplied by
    /// <paramref name="radius"/> (mm), so one unit of any parameter moves points at that radius by about 1 mm, like one
    /// unit of translation. This keeps L-BFGS well conditioned whatever the image size (DIPY mixes radians and mm unscaled).
    /// </summary>
    public double[] OptimizerScales(double radius)
    {
        var s = new double[Count];
        for (int i = 0; i < Count - Dimension; i++) s[i] = radius;
        for (int i = Count - Dimension; i < Count; i++) s[i] = 1;
        return s;
    }

    /// <summary>The 3x3 linear part (row-major) and the translation for parameters p.</summary>
    public void Evaluate(ReadOnlySpan<double> p, Span<double> a, Span<double> t)
    {
        a.Clear();
        a[0] = a[4] = a[8] = 1;
        t.Clear();
        int nt = Count - Dimension;
        for (int i = 0; i < Dimension; i++) t[i] = p[nt + i];
        if (Type == TransformType.Translation) return;
        if (LinearCount > 0)
        {
            if (Dimension == 2) { a[0] = p[0]; a[1] = p[1]; a[3] = p[2]; a[4] = p[3]; }
            else for (int i = 0; i < 9; i++) a[i] = p[i];
            return;
        }
        Span<double> r = stackalloc double[9];
        Rotation(p, r, Span<double>.Empty, Span<double>.Empty, Span<double>.Empty);
        r.CopyTo(a);
        ApplyScales(p, a);
    }

    private void ApplyScales(ReadOnlySpan<double> p, Span<double> a)
    {
        if (ScaleCount == 0) return;
        for (int row = 0; row < Dimension; row++)
        {
            double s = ScaleCount == 1 ? p[Angles] : p[Angles + row];
            for (int col = 0; col < 3; col++) a[row * 3 + col] *= s;
        }
    }

    /// <summary>Rotation matrix and (optionally) its derivatives with respect to each angle.</summary>
    private void Rotation(ReadOnlySpan<double> p, Span<double> r, Span<double> d0, Span<double> d1, Span<double> d2)
    {
        r.Clear();
        r[8] = 1;
        if (Dimension == 2)
        {
            double c = Math.Cos(p[0]), s = Math.Sin(p[0]);
            r[0] = c; r[1] = -s; r[3] = s; r[4] = c;
            if (!d0.IsEmpty)
            {
                d0.Clear();
                d0[0] = -s; d0[1] = -c; d0[3] = c; d0[4] = -s;
            }
            return;
        }
        double ca = Math.Cos(p[0]), sa = Math.Sin(p[0]);
        double cb = Math.Cos(p[1]), sb = Math.Sin(p[1]);
        double cg = Math.Cos(p[2]), sg = Math.Sin(p[2]);
        // R = Rz(g) Rx(a) Ry(b)
        r[0] = cg * cb - sg * sa * sb; r[1] = -sg * ca; r[2] = cg * sb + sg * sa * cb;
        r[3] = sg * cb + cg * sa * sb; r[4] = cg * ca; r[5] = sg * sb - cg * sa * cb;
        r[6] = -ca * sb; r[7] = sa; r[8] = ca * cb;
        if (d0.IsEmpty) return;
        // d/d alpha
        d0[0] = -sg * ca * sb; d0[1] = sg * sa; d0[2] = sg * ca * cb;
        d0[3] = cg * ca * sb; d0[4] = -cg * sa; d0[5] = -cg * ca * cb;
        d0[6] = sa * sb; d0[7] = ca; d0[8] = -sa * cb;
        // d/d beta
        d1[0] = -cg * sb - sg * sa * cb; d1[1] = 0; d1[2] = cg * cb - sg * sa * sb;
        d1[3] = -sg * sb + cg * sa * cb; d1[4] = 0; d1[5] = sg * cb + cg * sa * sb;
        d1[6] = -ca * cb; d1[7] = 0; d1[8] = -ca * sb;
        // d/d gamma
        d2[0] = -sg * cb - cg * sa * sb; d2[1] = -cg * ca; d2[2] = -sg * sb + cg * sa * cb;
        d2[3] = cg * cb - sg * sa * sb; d2[4] = -sg * ca; d2[5] = cg * sb + sg * sa * cb;
        d2[6] = 0; d2[7] = 0; d2[8] = 0;
    }

    /// <summary>
    /// Analytic derivatives: for each parameter k, 12 values [dA_k (3x3 row-major), dt_k (3)] written to
    /// d[k*12 .. k*12+11].
    /// </summary>
    public void Derivatives(ReadOnlySpan<double> p, Span<double> d)
    {
        d.Slice(0, Count * 12).Clear();
        int nt = Count - Dimension;
        for (int i = 0; i < Dimension; i++) d[(nt + i) * 12 + 9 + i] = 1;
        if (Type == TransformType.Translation) return;
        if (LinearCount > 0)
        {
            if (Dimension == 2)
            {
                d[0 * 12 + 0] = 1; d[1 * 12 + 1] = 1; d[2 * 12 + 3] = 1; d[3 * 12 + 4] = 1;
            }
            else for (int i = 0; i < 9; i++) d[i * 12 + i] = 1;
            return;
        }
        Span<double> r = stackalloc double[9];
        Span<double> dr = stackalloc double[27];
        Rotation(p, r, dr.Slice(0, 9), dr.Slice(9, 9), dr.Slice(18, 9));
        for (int k = 0; k < Angles; k++)
        {
            var dk = d.Slice(k * 12, 9);
            dr.Slice(k * 9, 9).CopyTo(dk);
            ApplyScales(p, dk);
        }
        // Scales: A = s R (one scale) or row i of R times s_i.
        for (int j = 0; j < ScaleCount; j++)
        {
            var dk = d.Slice((Angles + j) * 12, 9);
            for (int row = 0; row < Dimension; row++)
            {
                if (ScaleCount > 1 && row != j) continue;
                for (int col = 0; col < 3; col++) dk[row * 3 + col] = r[row * 3 + col];
            }
        }
    }

    /// <summary>The world matrix y = A (x - c) + t + c for parameters p and centre c.</summary>
    public Images.Matrix4 Matrix(ReadOnlySpan<double> p, ReadOnlySpan<double> centre)
    {
        Span<double> a = stackalloc double[9];
        Span<double> t = stackalloc double[3];
        Evaluate(p, a, t);
        return Compose(a, t, centre);
    }

    internal static Images.Matrix4 Compose(ReadOnlySpan<double> a, ReadOnlySpan<double> t, ReadOnlySpan<double> c)
    {
        var m = new double[16];
        for (int i = 0; i < 3; i++)
        {
            double off = t[i] + c[i];
            for (int j = 0; j < 3; j++)
            {
                m[i * 4 + j] = a[i * 3 + j];
                off -= a[i * 3 + j] * c[j];
            }
            m[i * 4 + 3] = off;
        }
        m[15] = 1;
        return new Images.Matrix4(m);
    }

    /// <summary>The 3 x Count Jacobian dy/dp at world point x (row-major), from <see cref="Derivatives"/>.</summary>
    public double[] Jacobian(ReadOnlySpan<double> p, ReadOnlySpan<double> x, ReadOnlySpan<double> centre)
    {
        var d = new double[Count * 12];
        Derivatives(p, d);
        var jac = new double[3 * Count];
        for (int k = 0; k < Count; k++)
            for (int i = 0; i < 3; i++)
            {
                double v = d[k * 12 + 9 + i];
                for (int j = 0; j < 3; j++) v += d[k * 12 + i * 3 + j] * (x[j] - centre[j]);
                jac[i * Count + k] = v;
            }
        return jac;
    }
}
