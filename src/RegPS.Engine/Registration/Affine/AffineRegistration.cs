using System.Diagnostics;
using RegPS.Engine.Images;
using RegPS.Engine.Metrics;
using RegPS.Engine.Optimization;
using RegPS.Engine.Registration.Affine;
using RegPS.Engine.Transforms;

namespace RegPS.Engine.Registration;

/// <summary>
/// Multi-resolution mutual-information affine registration (DIPY's AffineRegistration and the
/// _public.affine_registration pipeline); see <see cref="AffineOptions"/> for the defaults and the differences.
/// </summary>
public static class AffineRegistration
{
    /// <summary>
    /// Registers <paramref name="moving"/> to <paramref name="static"/> in world space (both images' grid-to-world
    /// matrices are used). Returns the static-world -> moving-world map. For 4D images the first volume is used.
    /// Progress: one report with a Message at the start of each level (DIPY's "Optimizing level L [max iter: N]", L counting
    /// down to 0 = finest, prefixed by the stage), then one per function evaluation with Metric = -MI.
    /// </summary>
    /// <exception cref="OperationCanceledException">The token was cancelled (checked before each level and every function evaluation).</exception>
    public static AffineMap Register(Image @static, Image moving, AffineOptions options, IProgress<RegistrationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(@static);
        ArgumentNullException.ThrowIfNull(moving);
        ArgumentNullException.ThrowIfNull(options);
        Validate(@static, moving, options);
        var clock = Stopwatch.StartNew();
        cancellationToken.ThrowIfCancellationRequested();
        var st = @static.Volume(0);
        var mv = moving.Volume(0);
        int dim = st.Dimension;
        double[] centre = options.Center == RotationCenter.CenterOfMass ? CenterOfMass(st) : GeometricCenter(st.Grid);
        if (dim == 2 && options.Center == RotationCenter.CenterOfMass) centre[2] = GeometricCenter(st.Grid)[2];

        var stages = new List<string>();
        Matrix4 current = options.Initialization switch
        {
            AffineInitialization.Identity => Matrix4.Identity,
            AffineInitialization.CentersOfMass => CentreTranslation(CenterOfMass(st), CenterOfMass(mv), dim),
            AffineInitialization.GeometricCenters => CentreTranslation(GeometricCenter(st.Grid), GeometricCenter(mv.Grid), dim),
            AffineInitialization.Matrix => options.InitialMatrix ?? throw new ArgumentException("Initialization is Matrix but InitialMatrix is not set."),
            _ => throw new ArgumentOutOfRangeException(nameof(options)),
        };
        if (options.Initialization == AffineInitialization.CentersOfMass) stages.Add("center_of_mass");
        if (options.Initialization == AffineInitialization.GeometricCenters) stages.Add("geometric_centers");
        if (options.Initialization == AffineInitialization.Matrix) stages.Add("initial_matrix");

        int levels = options.Factors.Length;
        var built = new AffineLevel[levels];
        bool random = options.SamplingProportion is null && options.Sampling == AffineSampling.Random;
        float[]? sNorm = null, mNorm = null;
        AffineLevel Level(int l) => built[l] ??= random
            ? AffinePyramid.BuildDecimated(st.Grid, sNorm ??= AffinePyramid.Normalise(st.Buffer, st.Grid.VoxelCount),
                mv.Grid, mNorm ??= AffinePyramid.Normalise(mv.Buffer, mv.Grid.VoxelCount), options.StaticMask, options.MovingMask, options.Bins, options.Factors[l], options.Sigmas[l],
                options.SampleCounts[Math.Min(l, options.SampleCounts.Length - 1)], options.Seed, options.EdgeMargin, options.CubicInterpolation,
                options.MaxDegreeOfParallelism)
            : AffinePyramid.Build(st, mv, options.StaticMask, options.MovingMask, options.Bins, options.Factors[l], options.Sigmas[l],
                options.SamplingProportion, options.Seed, options.MaxDegreeOfParallelism);

        double radius = Radius(st.Grid);
        var iterations = new List<int>();
        var trace = new List<double>();
        double finalMi = double.NaN;
        for (int stage = 0; stage < options.Stages.Length; stage++)
        {
            var type = options.Stages[stage];
            int stageLevels = options.ShortEarlyStages ? Math.Max(1, levels - (options.Stages.Length - 1 - stage)) : levels;
            var model = new TransformModel(type, dim);
            string stageName = type.ToString().ToLowerInvariant();
            stages.Add(stageName);
            var scales = model.OptimizerScales(radius);
            for (int l = 0; l < stageLevels; l++)
            {
                int maxfun = options.LevelIterations[l];
                progress?.Report(new RegistrationProgress(stageName, l, levels, 0, maxfun, double.NaN)
                { Message = $"{stageName}: Optimizing level {levels - 1 - l} [max iter: {maxfun}]" });
                cancellationToken.ThrowIfCancellationRequested();
                var level = Level(l);
                var metric = new MattesMutualInformation(options.Bins, level.Static, level.Moving, level.MovingGrid, level.MovingMin, level.MovingMax,
                    level.MovingMask, options.MaxDegreeOfParallelism, options.ExcludeOutsideSamples, level.MovingCoefficients);
                var start = current;
                var objective = new AffineObjective(model, metric, start, level.MovingGrid.WorldToGrid, centre);
                var p = new double[model.Count];
                var gp = new double[model.Count];
                int evals = 0;
                double lastMi = double.NaN;
                double Objective(double[] u, double[] grad)
                {
                    for (int k = 0; k < p.Length; k++) p[k] = u[k] / scales[k];
                    double mi = objective.Evaluate(p, gp);
                    if (double.IsNaN(mi)) return double.PositiveInfinity;
                    for (int k = 0; k < p.Length; k++) grad[k] = -gp[k] / scales[k];
                    evals++;
                    lastMi = mi;
                    trace.Add(mi);
                    progress?.Report(new RegistrationProgress(stageName, l, levels, evals, maxfun, -mi));
                    return -mi;
                }
                var u0 = model.Identity();
                for (int k = 0; k < u0.Length; k++) u0[k] *= scales[k];
                var result = Lbfgs.Minimize(Objective, u0, maxfun, options.GradientTolerance, options.FunctionTolerance, options.HistorySize, cancellationToken, options.ParameterTolerance);
                for (int k = 0; k < p.Length; k++) p[k] = result.X[k] / scales[k];
                current = objective.Matrix(p);
                iterations.Add(result.Evaluations);
                finalMi = -result.F;
                if (double.IsNaN(finalMi)) finalMi = lastMi;
            }
        }
        clock.Stop();
        return new AffineMap(current, @static.Grid, moving.Grid, options, finalMi, stages, iterations.ToArray(), trace, clock.Elapsed,
            options.SamplingProportion is null && options.Sampling != AffineSampling.Random ? null : options.Seed, centre);
    }

    private static void Validate(Image s, Image m, AffineOptions o)
    {
        if (s.Dimension != m.Dimension) throw new ArgumentException($"The static image is {s.Dimension}D and the moving image {m.Dimension}D; both must have the same dimension.");
        int n = o.Factors.Length;
        if (n == 0 || o.Sigmas.Length != n || o.LevelIterations.Length != n)
            throw new ArgumentException($"Factors ({o.Factors.Length}), Sigmas ({o.Sigmas.Length}) and LevelIterations ({o.LevelIterations.Length}) must have the same, nonzero length.");
        if (o.Factors.Any(f => f < 1)) throw new ArgumentException("Factors must be at least 1.");
        if (o.Sigmas.Any(x => x < 0 || !double.IsFinite(x))) throw new ArgumentException("Sigmas must be finite and non-negative.");
        if (o.LevelIterations.Any(x => x < 1)) throw new ArgumentException("LevelIterations must be at least 1.");
        if (o.Bins < 8 || o.Bins > 255) throw new ArgumentException("Bins must be between 8 and 255.");
        if (o.SamplingProportion is { } sp && !(sp > 0 && sp <= 1)) throw new ArgumentException("SamplingProportion must be in (0, 1].");
        if (o.Stages is null || o.Stages.Length == 0) throw new ArgumentException("At least one stage is needed.");
        if (o.StaticMask is { } sm && !sm.Grid.SameAs(s.Grid)) throw new ArgumentException("StaticMask must be on the static image's grid.");
        if (o.MovingMask is { } mm && !mm.Grid.SameAs(m.Grid)) throw new ArgumentException("MovingMask must be on the moving image's grid.");
        if (o.SampleCounts is null || o.SampleCounts.Length == 0 || o.SampleCounts.Any(c => c < 1))
            throw new ArgumentException("SampleCounts needs at least one value, each at least 1.");
        if (o.Sampling == AffineSampling.Regular && o.SamplingProportion is null)
            throw new ArgumentException("Regular sampling needs SamplingProportion (the fraction of voxels sampled).");
        if (o.EdgeMargin < 0) throw new ArgumentException("EdgeMargin must be 0 or more.");
        if (!(o.ParameterTolerance >= 0)) throw new ArgumentException("ParameterTolerance must be 0 or more.");
        if (o.InitialMatrix is { } im && (!im.IsFinite || !im.TryInverse(out _))) throw new ArgumentException("InitialMatrix must be finite and invertible.");
    }

    private static Matrix4 CentreTranslation(double[] cs, double[] cm, int dim) =>
        Matrix4.Translation(cm[0] - cs[0], cm[1] - cs[1], dim == 2 ? 0 : cm[2] - cs[2]);

    /// <summary>World position of the middle of the grid (voxel (n-1)/2 on each axis).</summary>
    internal static double[] GeometricCenter(Grid g)
    {
        var (x, y, z) = g.ToWorld((g.NX - 1) / 2.0, (g.NY - 1) / 2.0, (g.NZ - 1) / 2.0);
        return new[] { x, y, z };
    }

    /// <summary>Intensity-weighted mean world position (scipy.ndimage.center_of_mass on the raw values, then grid2world).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static double[] CenterOfMass(Image image)
    {
        var g = image.Grid;
        var buf = image.Buffer;
        double sw = 0, si = 0, sj = 0, sk = 0;
        for (int k = 0; k < g.NZ; k++)
            for (int j = 0; j < g.NY; j++)
            {
                int row = g.Index(0, j, k);
                double rw = 0, ri = 0;
                for (int i = 0; i < g.NX; i++)
                {
                    double v = buf[row + i];
                    if (!double.IsFinite(v)) continue;
                    rw += v; ri += v * i;
                }
                sw += rw; si += ri; sj += rw * j; sk += rw * k;
            }
        if (sw == 0) return GeometricCenter(g);
        var (x, y, z) = g.ToWorld(si / sw, sj / sw, sk / sw);
        return new[] { x, y, z };
    }

    /// <summary>RMS distance (mm) of the static image's box from the centre: the optimiser's parameter scale.</summary>
    private static double Radius(Grid g)
    {
        double sum = 0;
        var sp = g.Spacing;
        int[] n = { g.NX, g.NY, g.NZ };
        for (int a = 0; a < g.Dimension; a++)
        {
            double e = n[a] * sp[a];
            sum += e * e / 12;
        }
        return Math.Max(1, Math.Sqrt(sum));
    }
}
