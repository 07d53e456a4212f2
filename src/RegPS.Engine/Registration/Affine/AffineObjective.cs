using RegPS.Engine.Images;
using RegPS.Engine.Metrics;
using RegPS.Engine.Transforms;

namespace RegPS.Engine.Registration.Affine;

/// <summary>
/// MI of one level as a function of a transform's parameters p, for the map x -> S(T_p(x)) (S = the starting matrix,
/// T_p about the centre c), with the chain rule dMI/dp_k = &lt;P^T H, [dA_k | dt_k]&gt;, where H is the metric's gradient
/// with respect to a moving-voxel displacement E (x - c, 1) and P the linear part of movingWorldToGrid * S.
/// </summary>
internal sealed class AffineObjective
{
    private readonly TransformModel _model;
    private readonly MattesMutualInformation _metric;
    private readonly Matrix4 _start, _w2g, _pl;
    private readonly double[] _centre;
    private readonly double[] _a = new double[9], _t = new double[3], _h = new double[12];
    private readonly double[] _d;

    public AffineObjective(TransformModel model, MattesMutualInformation metric, Matrix4 start, Matrix4 movingWorldToGrid, double[] centre)
    {
        _model = model;
        _metric = metric;
        _start = start;
        _w2g = movingWorldToGrid;
        _pl = movingWorldToGrid * start;
        _centre = centre;
        _d = new double[model.Count * 12];
    }

    /// <summary>The world matrix S * T_p.</summary>
    public Matrix4 Matrix(ReadOnlySpan<double> p)
    {
        _model.Evaluate(p, _a, _t);
        return _start * TransformModel.Compose(_a, _t, _centre);
    }

    /// <summary>MI at p (NaN when the matrix is singular or not finite); dMI/dp into <paramref name="gradient"/> when given.</summary>
    public double Evaluate(ReadOnlySpan<double> p, Span<double> gradient)
    {
        var m = Matrix(p);
        if (!m.IsFinite || Math.Abs(m.Determinant3) < 1e-12) return double.NaN;
        bool wantGradient = !gradient.IsEmpty;
        double mi = _metric.Evaluate(_w2g * m, _centre, _h, wantGradient);
        if (!wantGradient) return mi;
        _model.Derivatives(p, _d);
        for (int k = 0; k < _model.Count; k++)
        {
            double s = 0;
            for (int r = 0; r < 3; r++)
                for (int c = 0; c < 4; c++)
                {
                    double dk = c < 3 ? _d[k * 12 + r * 3 + c] : _d[k * 12 + 9 + r];
                    if (dk == 0) continue;
                    s += (_pl[0, r] * _h[c] + _pl[1, r] * _h[4 + c] + _pl[2, r] * _h[8 + c]) * dk;
                }
            gradient[k] = s;
        }
        return mi;
    }
}
