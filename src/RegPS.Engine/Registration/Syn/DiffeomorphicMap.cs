using System.Runtime.CompilerServices;
using RegPS.Engine.Fields;
using RegPS.Engine.Images;
using RegPS.Engine.Parallel;
using RegPS.Engine.Resampling;

namespace RegPS.Engine.Registration;

/// <summary>
/// The result of a SyN registration: a prealign affine P (static world -> moving world, DIPY's AffineMap.affine)
/// and two displacement fields in world mm on the reference (static) grid <see cref="Domain"/>:
/// <list type="bullet">
/// <item><see cref="Forward"/> f: a static point y maps to the moving point P(y + f(y)) (DIPY's transform_points;
/// this is the map <see cref="Transform"/> pulls the moving image through).</item>
/// <item><see cref="Backward"/> g: a moving point z maps back to the static point z' + g(z') with z' = P^-1 z
/// (the inverse map, used by <see cref="TransformInverse"/>); g is sampled at the point z' of the reference grid.</item>
/// </list>
/// </summary>
public sealed class DiffeomorphicMap
{
    private int? _folded;

    /// <summary>A map from saved parts (both fields must lie on <paramref name="domain"/>).</summary>
    public DiffeomorphicMap(Matrix4 prealign, Grid domain, Grid codomain, DisplacementField forward, DisplacementField backward)
        : this(prealign, domain, codomain, forward, backward, new SynOptions(), Array.Empty<double>(), Array.Empty<int>(), TimeSpan.Zero, double.NaN)
    {
    }

    internal DiffeomorphicMap(Matrix4 prealign, Grid domain, Grid codomain, DisplacementField forward, DisplacementField backward,
        SynOptions options, IReadOnlyList<double> energyTrace, int[] iterationsPerLevel, TimeSpan elapsed, double finalCorrelation)
    {
        ArgumentNullException.ThrowIfNull(domain);
        ArgumentNullException.ThrowIfNull(codomain);
        ArgumentNullException.ThrowIfNull(forward);
        ArgumentNullException.ThrowIfNull(backward);
        if (!forward.Grid.SameAs(domain) || !backward.Grid.SameAs(domain))
            throw new ArgumentException("Both displacement fields must lie on the domain (reference) grid.");
        if (domain.Dimension != codomain.Dimension) throw new ArgumentException("Domain and codomain must both be 2D or both 3D.");
        if (!prealign.IsFinite || !prealign.TryInverse(out _)) throw new ArgumentException("The prealign matrix must be finite and invertible.", nameof(prealign));
        Prealign = prealign;
        Domain = domain;
        Codomain = codomain;
        Forward = forward;
        Backward = backward;
        Options = options;
        EnergyTrace = energyTrace;
        IterationsPerLevel = iterationsPerLevel;
        Elapsed = elapsed;
        FinalCorrelation = finalCorrelation;
    }

    /// <summary>Static world -> moving world affine applied after the forward field.</summary>
    public Matrix4 Prealign { get; }
    /// <summary>The reference (static) grid the fields live on.</summary>
    public Grid Domain { get; }
    /// <summary>The moving image's grid (default target of <see cref="TransformInverse"/>).</summary>
    public Grid Codomain { get; }
    /// <summary>f: static point y -> moving point P(y + f(y)).</summary>
    public DisplacementField Forward { get; }
    /// <summary>g: moving point z -> static point z' + g(z'), z' = P^-1 z.</summary>
    public DisplacementField Backward { get; }
    public SynOptions Options { get; }
    /// <summary>The energy (forward + backward, DIPY's) of every iteration, all levels in order.</summary>
    public IReadOnlyList<double> EnergyTrace { get; }
    /// <summary>Iterations run at each level, coarsest first.</summary>
    public int[] IterationsPerLevel { get; }
    public TimeSpan Elapsed { get; }
    /// <summary>Pearson correlation between Transform(moving) and the static image at the end of the registration (NaN for a loaded map).</summary>
    public double FinalCorrelation { get; }

    /// <summary>
    /// The moving image pulled onto the domain grid: out(y) = moving(P(y + f(y))). Linear is DIPY's zero-padded
    /// trilinear (bilinear in 2D); Nearest rounds ties down and is valid on [0, n-1].
    /// </summary>
    public Image Transform(Image moving, Interpolation interpolation = Interpolation.Linear, int maxDegree = 0)
    {
        ArgumentNullException.ThrowIfNull(moving);
        CheckDimension(moving);
        var fg = new FieldGrid(Domain);
        var f = Forward.ToWorkingShared();
        var M = moving.Grid.WorldToGrid * Prealign;
        var A = M * Domain.GridToWorld;
        var dst = new float[(long)Domain.VoxelCount * moving.Volumes];
        if (interpolation == Interpolation.Linear && moving.Volumes == 1)
        {
            // the iteration's warp kernel computes exactly this: moving(W_moving P (X + f(x)))
            FieldWarp.Warp(moving.Buffer, moving.Grid, Prealign, f, fg, dst, maxDegree);
            return new Image(Domain, dst, 1);
        }
        for (int vol = 0; vol < moving.Volumes; vol++)
            Pull(moving, vol, fg, dst, vol * Domain.VoxelCount, interpolation, maxDegree, (i, j, k) =>
            {
                int o = 3 * Domain.Index(i, j, k);
                return (A.Apply(i, j, k), M.ApplyLinear(f[o], f[o + 1], f[o + 2]));
            });
        return new Image(Domain, dst, moving.Volumes);
    }

    /// <summary>
    /// The static image pulled onto the codomain (moving) grid, or onto <paramref name="target"/>: for a target voxel
    /// at world z, out = static(z' + g(z')) with z' = P^-1 z and g interpolated on the reference grid (zero padded).
    /// </summary>
    public Image TransformInverse(Image @static, Interpolation interpolation = Interpolation.Linear, int maxDegree = 0, Grid? target = null)
    {
        ArgumentNullException.ThrowIfNull(@static);
        CheckDimension(@static);
        var tg = target ?? Codomain;
        var fg = new FieldGrid(Domain);
        var g = Backward.ToWorkingShared();
        var pinv = Prealign.Inverse();
        var toRef = Domain.WorldToGrid * pinv * tg.GridToWorld;   // target voxel -> reference voxel
        var toWorld = pinv * tg.GridToWorld;                       // target voxel -> z' (world)
        var W = @static.Grid.WorldToGrid;
        var dst = new float[(long)tg.VoxelCount * @static.Volumes];
        for (int vol = 0; vol < @static.Volumes; vol++)
            Pull(@static, vol, new FieldGrid(tg), dst, vol * tg.VoxelCount, interpolation, maxDegree, (i, j, k) =>
            {
                var (rx, ry, rz) = toRef.Apply(i, j, k);
                Linear.FieldZeroPadded(g, fg.NX, fg.NY, fg.NZ, rx, ry, rz, out double dx, out double dy, out double dz);
                var (zx, zy, zz) = toWorld.Apply(i, j, k);
                return (W.Apply(zx, zy, zz), W.ApplyLinear(dx, dy, dz));
            });
        return new Image(tg, dst, @static.Volumes);
    }

    private delegate ((double X, double Y, double Z) Base, (double X, double Y, double Z) Offset) PointFn(int i, int j, int k);

    private static void Pull(Image src, int vol, FieldGrid target, float[] dst, int dstOffset, Interpolation interpolation, int maxDegree, PointFn point)
    {
        var sg = src.Grid;
        var buf = src.Buffer;
        int off = vol * sg.VoxelCount;
        float[] vol0 = off == 0 && buf.Length == sg.VoxelCount ? buf : buf.AsSpan(off, sg.VoxelCount).ToArray();
        int nx = target.NX, ny = target.NY;
        var other = interpolation is Interpolation.Linear or Interpolation.Nearest ? null
            : new VolumeSampler(vol0, 0, sg, interpolation, SampleDomain.Itk, 0f);
        SliceIterator.For(target.Rows, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (r) =>
        {
            int j = r % ny, k = r / ny;
            for (int i = 0; i < nx; i++)
            {
                var (b, d) = point(i, j, k);
                double x = b.X + d.X, y = b.Y + d.Y, z = b.Z + d.Z;
                dst[dstOffset + r * nx + i] = other is not null ? other.Sample(x, y, z)
                    : interpolation == Interpolation.Linear
                    ? Linear.ZeroPadded(vol0, sg.NX, sg.NY, sg.NZ, x, y, z)
                    : Resampler.Nearest(vol0, 0, sg.NX, sg.NY, sg.NZ, x, y, z, Boundary.ZeroPadded);
            }
        });
    }

    private void CheckDimension(Image image)
    {
        if (image.Dimension != Domain.Dimension)
            throw new ArgumentException($"The map is {Domain.Dimension}D but the image is {image.Dimension}D.");
    }

    /// <summary>
    /// Jacobian determinant of the static -> moving point map y -> P(y + f(y)) at every reference voxel
    /// (det of the prealign's linear part times det(I + Df), derivatives as numpy.gradient).
    /// </summary>
    public Image JacobianDeterminant(int maxDegree = 0)
    {
        var fg = new FieldGrid(Domain);
        var dst = new float[Domain.VoxelCount];
        double pdet = Domain.Dimension == 2
            ? Prealign[0, 0] * Prealign[1, 1] - Prealign[0, 1] * Prealign[1, 0]
            : Prealign.Determinant3;
        FieldJacobian.Determinant(Forward.ToWorkingShared(), fg, pdet, dst, maxDegree);
        return Image.FromVoxels(Domain, dst);
    }

    /// <summary>Reference voxels where the Jacobian determinant is zero or negative (folds).</summary>
    public int FoldedVoxels
    {
        get
        {
            if (_folded is int n) return n;
            var j = JacobianDeterminant();
            int c = 0;
            foreach (var v in j.Voxels) if (v <= 0) c++;
            _folded = c;
            return c;
        }
    }

    /// <summary>Pearson correlation between Transform(moving) and the static image over the whole reference grid.</summary>
    public double Correlation(Image @static, Image moving)
    {
        var w = Transform(moving);
        return PearsonCorrelation(@static.Buffer, w.Buffer, Domain.VoxelCount);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static double PearsonCorrelation(float[] a, float[] b, int n)
    {
        double sa = 0, sb = 0;
        for (int i = 0; i < n; i++) { sa += a[i]; sb += b[i]; }
        double ma = sa / n, mb = sb / n, sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < n; i++)
        {
            double x = a[i] - ma, y = b[i] - mb;
            sab += x * y; saa += x * x; sbb += y * y;
        }
        return saa > 0 && sbb > 0 ? sab / Math.Sqrt(saa * sbb) : 0;
    }
}
