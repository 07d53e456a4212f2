using System.Runtime.CompilerServices;
using System.Diagnostics;
using RegPS.Engine.Fields;
using RegPS.Engine.Filters;
using RegPS.Engine.Images;
using RegPS.Engine.Metrics;

namespace RegPS.Engine.Registration;

/// <summary>
/// Symmetric diffeomorphic registration (SyN, Avants et al. 2008) with DIPY's SymmetricDiffeomorphicRegistration
/// update rule, defaults and map semantics (see ALGORITHMS.md section 2).
///
/// Two half-way maps are optimised on the reference (static) grid of each pyramid level: the static side
/// (forward fS, backward bS = fS^-1) and the moving side (fM, bM = fM^-1, with the prealign P applied after it).
/// Each iteration warps both smoothed full-resolution images to the reference grid, wS(x) = I(x + bS(x)) and
/// wM(x) = J(P(x + bM(x))) (trilinear, or on the image level with RegPS's default cubic B-splines), takes the metric's forward and backward steps, zeroes them on the faces, scales each
/// (DIPY: to 1 voxel at its longest, every iteration; RegPS's default: by the longest update so far on this level, so
/// steps shrink as the images align), composes fS += t u(x + fS(x)) and fM += t v(x + fM(x)) (t = step length), and re-inverts
/// bS, bM, then fS, fM (fixed-point inversion warm-started from the previous inverse: DIPY iterates each until
/// converged; RegPS's 3D default takes one iteration per inversion on the levels after the coarsest). Levels stop after their iteration count or, with
/// StopAtConvergence (DIPY), when the slope of a quadratic fitted to the last 12 energies is at most opt_tol. The final
/// static -> moving field is f(y) = fS(y) + bM(y + fS(y)) and the inverse g(z') = fM(z') + bS(z' + fM(z')), composed
/// on the finest optimised level: with MinimumOptimizedSpacing (RegPS: 1.5 mm, 3D) a 1 mm image is optimised down to
/// its 2 mm level, and f and g are then expanded (trilinear, DIPY's level expansion) to the image grid.
///
/// Memory: the working buffers are allocated once at the size of the finest optimised level and reused by every
/// level: 6 vector fields (fS, bS, fM, bM and the steps u, v, which are also the inversions' scratch; 12 bytes per
/// voxel each) and 2 warped images; the two smoothed inputs are full size (4 bytes per voxel each). DIPY's preset at
/// 193x229x193: about 88 bytes per voxel, 0.75 GB; RegPS's default there: 8 bytes per voxel for the smoothed inputs,
/// 1/8 of the rest, then the two final fields (24 bytes per voxel), about 0.35 GB. The CC metric keeps its window sums for a
/// ring of 2r+5 slices in 3D and for the whole image only in 2D (5 doubles per pixel); its interpolated smoothing keeps
/// 3/4 of a field per step as scratch (18 bytes per voxel of the finest optimised level for both).
/// Only the first volume of a 4D input is registered.
/// </summary>
public static class SynRegistration
{
    public static DiffeomorphicMap Register(Image @static, Image moving, Matrix4? prealign, SynOptions options,
        IProgress<RegistrationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(@static);
        ArgumentNullException.ThrowIfNull(moving);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (@static.Dimension != moving.Dimension)
            throw new ArgumentException($"The static image is {@static.Dimension}D and the moving image is {moving.Dimension}D; SyN needs both 2D or both 3D.");
        CheckFinite(@static, "static");
        CheckFinite(moving, "moving");
        var P = prealign ?? Matrix4.Identity;
        if (!P.IsFinite || !P.TryInverse(out var pInv))
            throw new ArgumentException("The prealign matrix must be finite and invertible.", nameof(prealign));
        int dim = @static.Dimension;
        if (dim == 2 && (P[0, 2] != 0 || P[1, 2] != 0 || P[2, 0] != 0 || P[2, 1] != 0 || P[2, 2] != 1 || P[2, 3] != 0))
            throw new ArgumentException("A 2D prealign must leave z alone (third row and column of the identity).", nameof(prealign));
        _ = pInv;
        int radius = options.RadiusFor(dim);
        if (options.Metric == SynMetric.CC && @static.Grid.Shape.Any(n => n < 2 * radius + 1))
            throw new ArgumentException($"The static image ({string.Join("x", @static.Grid.Shape)}) needs at least 2*Radius+1 = {2 * radius + 1} voxels along every axis for the CC metric (a single-slice volume should be registered as a 2D image).");

        var sw = Stopwatch.StartNew();
        int deg = options.MaxDegreeOfParallelism;
        var iterations = options.IterationsFor(dim);
        var reinversion = options.ReinversionFor(dim);
        var inversionSteps = options.InversionStepsFor(dim);
        int levels = iterations.Length;
        var sGrid = @static.Grid;
        var mGrid = moving.Grid;
        var sPyr = Pyramid(sGrid, levels, options.SsSigmaFactor);
        var mPyr = Pyramid(mGrid, levels, options.SsSigmaFactor);

        // the working fields live on the finest level that is optimised (the image grid unless MinimumOptimizedSpacing
        // leaves fine levels out); the smoothed inputs stay at full size, since every level warps them directly
        int lowest = LowestOptimizedLevel(sPyr, dim, options.MinimumOptimizedSpacing);
        var optGrid = sPyr[lowest].Grid;
        int n0 = optGrid.VoxelCount, rows0 = optGrid.NY * optGrid.NZ;
        // SyN keeps hundreds of MB at 1 mm for its whole run. What an affine registration just before it left behind
        // (its pyramids: about 250 MB of garbage at 1 mm) is collected first, so that the process's peak is SyN's
        // own need and not the sum of both (measured: 784 -> 642 MB peak for affine + SyN at 1 mm in one pwsh).
        long planned = 4L * (sGrid.VoxelCount + mGrid.VoxelCount) + 24L * sGrid.VoxelCount + 56L * n0;
        if (planned > 128L << 20) GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        var fS = new float[3 * n0]; var bS = new float[3 * n0];
        var fM = new float[3 * n0]; var bM = new float[3 * n0];
        var u = new float[3 * n0]; var v = new float[3 * n0];
        var wS = new float[n0]; var wM = new float[n0];
        var smS = new float[sGrid.VoxelCount]; var smM = new float[mGrid.VoxelCount];
        var rowSum = new double[rows0]; var rowMax = new double[rows0];
        ISynStepMetric metric = options.Metric == SynMetric.CC
            ? new CrossCorrelationMetric(radius, options.SigmaDiff, rows0, options.SmoothingTruncate, options.StepSmoothing == SynStepSmoothing.Interpolated)
            : new SumOfSquaredDifferencesMetric(options.SsdSmooth, rows0, options.SmoothingTruncate);

        var energyTrace = new List<double>();
        var itersPerLevel = new int[levels];
        FieldGrid? prev = null;
        for (int li = 0; li < levels; li++)
        {
            int L = levels - 1 - li;
            if (L < lowest) break;
            cancellationToken.ThrowIfCancellationRequested();
            var fg = new FieldGrid(sPyr[L].Grid);
            SmoothedNormalised(@static, sPyr[L].Sigmas, smS, deg);
            SmoothedNormalised(moving, mPyr[L].Sigmas, smM, deg);
            if (prev is null)
            {
                // the coarsest level starts from the identity: only its own part of the full-size arrays (clearing all
                // of them, 48 bytes per voxel of the finest level, took 30 ms at 2x2x3 mm)
                int used = 3 * fg.Count;
                Array.Clear(fS, 0, used); Array.Clear(bS, 0, used); Array.Clear(fM, 0, used); Array.Clear(bM, 0, used);
            }
            else
            {
                var factors = ExpandFactors(sPyr, L, L + 1, dim);
                FieldExpansion.Expand(fS, prev, fg, factors, u, deg); (fS, u) = (u, fS);
                FieldExpansion.Expand(bS, prev, fg, factors, u, deg); (bS, u) = (u, bS);
                FieldExpansion.Expand(fM, prev, fg, factors, u, deg); (fM, u) = (u, fM);
                FieldExpansion.Expand(bM, prev, fg, factors, u, deg); (bM, u) = (u, bM);
            }
            // on the image level the images are sampled with cubic B-splines (RegPS's default; coarser levels sample the
            // smoothed images between their voxels' spacing, where trilinear measured as good)
            CubicImage? cubicS = null, cubicM = null;
            if (L == 0 && options.ImageLevelInterpolation == Resampling.Interpolation.BSpline)
            {
                cubicS = CubicImage.Create(smS, sGrid, deg);
                cubicM = CubicImage.Create(smM, mGrid, deg);
            }
            int maxIter = iterations[li];
            // fixed-point iterations per inversion on this level: one from the warm start after the coarsest level
            // (OneOnFinerLevels), else up to InvIter until converged
            int invIter = inversionSteps == SynInversionSteps.OneOnFinerLevels && prev is not null ? Math.Min(1, options.InvIter) : options.InvIter;
            progress?.Report(new RegistrationProgress("syn", li, levels, 0, maxIter, double.NaN) { Message = $"Optimizing level {L}" });
            var levelEnergies = new List<double>();
            double derivative = double.PositiveInfinity;
            int niter = 0;
            // the longest update so far on this level, per side (StepScaling.LevelMaximum)
            double largestS = 0, largestM = 0;
            // whether the level runs another iteration after `done` of them (its count; with StopAtConvergence, DIPY's
            // test of the energy slope)
            bool Continues(int done) => done < maxIter && (!options.StopAtConvergence || options.OptTol < derivative);
            while (Continues(niter))
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (cubicS is not null)
                {
                    FieldWarp.WarpCubic(cubicS, Matrix4.Identity, bS, fg, wS, deg);
                    FieldWarp.WarpCubic(cubicM!, P, bM, fg, wM, deg);
                }
                else
                {
                    FieldWarp.Warp(smS, sGrid, Matrix4.Identity, bS, fg, wS, deg);
                    FieldWarp.Warp(smM, mGrid, P, bM, fg, wM, deg);
                }
                double e = metric.ComputeSteps(wS, wM, fg, u, v, deg);
                Step(fS, u, fg, options.StepLength, options.StepScaling, ref largestS, rowMax, deg);
                Step(fM, v, fg, options.StepLength, options.StepScaling, ref largestM, rowMax, deg);
                if (levelEnergies.Count >= options.EnergyWindow)
                    derivative = EnergyDerivative(levelEnergies, options.EnergyWindow);
                levelEnergies.Add(2 * e);
                // the steps u and v are spent: they serve as the inversions' scratch
                FieldInversion.Invert(fS, fg, invIter, options.InvTol, 0.1, bS, u, rowSum, rowMax, deg);
                FieldInversion.Invert(fM, fg, invIter, options.InvTol, 0.1, bM, v, rowSum, rowMax, deg);
                // the forward half-maps inverted back from the new backward ones (on the image level, with
                // ImageLevelLast, only after its last iteration, early stop included)
                if (reinversion != SynReinversion.ImageLevelLast || L != 0 || !Continues(niter + 1))
                {
                    FieldInversion.Invert(bS, fg, invIter, options.InvTol, 0.1, fS, u, rowSum, rowMax, deg);
                    FieldInversion.Invert(bM, fg, invIter, options.InvTol, 0.1, fM, v, rowSum, rowMax, deg);
                }
                niter++;
                progress?.Report(new RegistrationProgress("syn", li, levels, niter, maxIter, 2 * e));
            }
            itersPerLevel[li] = niter;
            energyTrace.AddRange(levelEnergies);
            prev = fg;
        }

        // Final maps on the finest optimised level: f = fS then bM; g = fM then bS (both with DIPY's zero off-domain
        // rule); when that level is coarser than the image, both are expanded to the static grid.
        var fgOpt = new FieldGrid(optGrid);
        FieldComposition.Compose(fS, bM, fgOpt, 1.0, u, null, null, deg);
        FieldComposition.Compose(fM, bS, fgOpt, 1.0, v, null, null, deg);
        if (lowest > 0)
        {
            var factors = ExpandFactors(sPyr, 0, lowest, dim);
            var fg0 = new FieldGrid(sGrid);
            // fS, fM are not needed any more: their arrays would be too small, so the full-size fields are new
            fS = fM = bS = bM = null!;
            var fu = new float[3 * sGrid.VoxelCount];
            FieldExpansion.Expand(u, fgOpt, fg0, factors, fu, deg);
            var fv = new float[3 * sGrid.VoxelCount];
            FieldExpansion.Expand(v, fgOpt, fg0, factors, fv, deg);
            (u, v) = (fu, fv);
        }
        // u and v are not used again: in 3D the fields take them over instead of copying 2 x 12 bytes per voxel
        var forward = DisplacementField.FromWorking(sGrid, u, takeOwnership: true);
        var backward = DisplacementField.FromWorking(sGrid, v, takeOwnership: true);
        sw.Stop();
        var provisional = new DiffeomorphicMap(P, sGrid, mGrid, forward, backward);
        double cc = provisional.Correlation(@static, moving);
        return new DiffeomorphicMap(P, sGrid, mGrid, forward, backward, options, energyTrace.AsReadOnly(), itersPerLevel, sw.Elapsed, cc);
    }

    /// <summary>
    /// Zero the step on the faces, scale it (EachIteration: its longest voxel to 1; LevelMaximum: by the longest voxel
    /// of any step so far on this level, tracked in <paramref name="largest"/>), and compose it into the field with weight t.
    /// </summary>
    private static void Step(float[] field, float[] step, FieldGrid g, double t, SynStepScaling scaling, ref double largest, double[] rowMax, int deg)
    {
        double nrm = FieldNorms.ZeroFacesAndMaxNorm(step, g, rowMax, deg);
        if (nrm > largest) largest = nrm;
        double den = scaling == SynStepScaling.LevelMaximum ? largest : nrm;
        // the normalisation 1/den is folded into the composition weight (one pass less than scaling the step)
        FieldComposition.Compose(field, step, g, den > 0 ? t / den : t, field, null, null, deg);
    }

    internal sealed record Level(Grid Grid, double[] Scaling, double[] Sigmas);

    /// <summary>
    /// DIPY's expand factors from a coarser pyramid level to a finer one: the finer level's scaling over the coarser
    /// one's per axis (0.5 between neighbouring levels), 1 on axes the image does not have.
    /// </summary>
    private static double[] ExpandFactors(Level[] pyramid, int fine, int coarse, int dim)
    {
        var factors = new double[3];
        for (int a = 0; a < 3; a++) factors[a] = a < dim ? pyramid[fine].Scaling[a] / pyramid[coarse].Scaling[a] : 1;
        return factors;
    }

    /// <summary>
    /// The finest pyramid level (0 = the image) that is optimised: in 3D, levels whose voxels are finer than
    /// minSpacing mm along every axis are left out; the coarsest level is always optimised.
    /// </summary>
    internal static int LowestOptimizedLevel(Level[] pyramid, int dim, double minSpacing)
    {
        if (dim != 3 || minSpacing <= 0) return 0;
        for (int L = 0; L < pyramid.Length; L++)
            if (pyramid[L].Grid.Spacing.Max() >= minSpacing) return L;
        return pyramid.Length - 1;
    }

    /// <summary>
    /// DIPY's ScaleSpace: level L scales each axis by 2^L * min_spacing / spacing (anchoring voxel 0), has shape
    /// int(n / scaling + 0.5) and smoothing sigma ss_sigma_factor * (scaling - 1) voxels (level 0: none).
    /// </summary>
    internal static Level[] Pyramid(Grid grid, int levels, double sigmaFactor)
    {
        int dim = grid.Dimension;
        var sp = grid.Spacing;
        double minSp = sp.Min();
        int[] n = { grid.NX, grid.NY, grid.NZ };
        var result = new Level[levels];
        for (int L = 0; L < levels; L++)
        {
            var scaling = new double[3];
            var sig = new double[3];
            var shape = new int[3];
            for (int a = 0; a < 3; a++)
            {
                if (a >= dim) { scaling[a] = 1; shape[a] = 1; continue; }
                scaling[a] = L == 0 ? 1 : Math.Pow(2, L) * minSp / sp[a];
                shape[a] = L == 0 ? n[a] : Math.Max(1, (int)(n[a] / scaling[a] + 0.5));
                sig[a] = L == 0 ? 0 : sigmaFactor * (scaling[a] - 1);
            }
            var g = L == 0 ? grid : grid.WithMatrix(shape[0], shape[1], shape[2], grid.GridToWorld * Matrix4.Scaling(scaling[0], scaling[1], scaling[2]));
            result[L] = new Level(g, scaling, sig);
        }
        return result;
    }

    /// <summary>The first volume of the image smoothed with per-axis sigmas (scipy gaussian_filter) and rescaled to [0, 1].</summary>
    /// <remarks>
    /// The range and the rescaling run in chunks of 64k voxels on the thread team (the minimum and maximum do not depend
    /// on the order they are taken in, and each voxel is rescaled on its own: the same bits at any thread count).
    /// </remarks>
    private static void SmoothedNormalised(Image image, double[] sigmas, float[] dst, int deg)
    {
        int n = image.Grid.VoxelCount;
        Array.Copy(image.Buffer, dst, n);
        if (sigmas.Any(s => s > 0)) Gaussian.SmoothInPlace(dst, image.Grid.NX, image.Grid.NY, image.Grid.NZ, sigmas, deg);
        const int chunk = 1 << 16;
        int chunks = (n + chunk - 1) / chunk;
        var mins = new float[chunks]; var maxs = new float[chunks];
        Parallel.SliceIterator.Run(chunks, new RangeChunks(dst, n, chunk, mins, maxs), deg);
        float min = mins.Min(), max = maxs.Max();
        double scale = max > min ? 1.0 / ((double)max - min) : 0;
        Parallel.SliceIterator.Run(chunks, new RescaleChunks(dst, n, chunk, min, scale), deg);
    }

    /// <summary>The smallest and largest value of each chunk of the first n values.</summary>
    private readonly struct RangeChunks(float[] a, int n, int chunk, float[] mins, float[] maxs) : Parallel.IRowOperation
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Invoke(int c)
        {
            float min = float.PositiveInfinity, max = float.NegativeInfinity;
            for (int i = c * chunk, end = Math.Min(n, i + chunk); i < end; i++) { if (a[i] < min) min = a[i]; if (a[i] > max) max = a[i]; }
            mins[c] = min; maxs[c] = max;
        }
    }

    /// <summary>(v - min) * scale in double, stored as float, over one chunk.</summary>
    private readonly struct RescaleChunks(float[] a, int n, int chunk, float min, double scale) : Parallel.IRowOperation
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Invoke(int c)
        {
            for (int i = c * chunk, end = Math.Min(n, i + chunk); i < end; i++) a[i] = (float)((a[i] - (double)min) * scale);
        }
    }

    /// <summary>
    /// DIPY's convergence measure: the last `window` energies divided by -|sum|, a least-squares quadratic
    /// a x^2 + b x + c fitted over x = 0..window-1, and its slope 2 a x0 + b at x0 = window/2.
    /// </summary>
    internal static double EnergyDerivative(IReadOnlyList<double> energies, int window)
    {
        int n = energies.Count;
        double ss = 0;
        for (int i = n - window; i < n; i++) ss += energies[i];
        double div = ss == 0 ? 1 : -Math.Abs(ss);
        // normal equations for [x^2, x, 1]
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, t0 = 0, t1 = 0, t2 = 0;
        for (int i = 0; i < window; i++)
        {
            double x = i, y = energies[n - window + i] / div;
            s0 += 1; s1 += x; s2 += x * x; s3 += x * x * x; s4 += x * x * x * x;
            t0 += y; t1 += x * y; t2 += x * x * y;
        }
        // | s4 s3 s2 | |a|   |t2|
        // | s3 s2 s1 | |b| = |t1|
        // | s2 s1 s0 | |c|   |t0|
        double det = s4 * (s2 * s0 - s1 * s1) - s3 * (s3 * s0 - s1 * s2) + s2 * (s3 * s1 - s2 * s2);
        double a = (t2 * (s2 * s0 - s1 * s1) - s3 * (t1 * s0 - s1 * t0) + s2 * (t1 * s1 - s2 * t0)) / det;
        double b = (s4 * (t1 * s0 - s1 * t0) - t2 * (s3 * s0 - s1 * s2) + s2 * (s3 * t0 - t1 * s2)) / det;
        double x0 = 0.5 * window;
        return 2 * a * x0 + b;
    }

    private static void CheckFinite(Image image, string name) => InputChecks.ForSyn(image, name);
}
