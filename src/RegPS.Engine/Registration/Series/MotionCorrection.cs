using System.Diagnostics;
using System.Runtime.ExceptionServices;
using RegPS.Engine.Images;
using RegPS.Engine.Resampling;

namespace RegPS.Engine.Registration;

/// <summary>
/// Motion correction of a 4D series (MCFLIRT, SPM Realign, DIPY register_series): every volume is registered to a
/// reference by least squares (<see cref="LeastSquaresAligner"/>, the default) or with the mutual-information affine
/// engine (rigid by default), in one or more passes (the later ones to the mean of the corrected series, the result then
/// put back relative to the first reference when it is a volume of the series, as SPM Realign does), and resampled
/// into the reference's frame.
/// <para><b>Conventions.</b> For volume t the engine returns A_t, the reference-world -> volume-world matrix (DIPY's
/// AffineMap meaning): the anatomy at reference point x is found at A_t x in volume t. So A_t <i>is</i> the head's
/// motion from the reference to volume t, and that is what is reported, as MCFLIRT and fMRIPrep report motion relative
/// to the reference. Written about the reference's geometric centre c (world position of voxel (n-1)/2):
/// A_t x = R (x - c) + c + T, with trans_x, trans_y, trans_z = T (mm, RAS world axes; positive trans_x means the head
/// in volume t sits further right than in the reference) and R = Rx(rot_x) Ry(rot_y) Rz(rot_z) (radians,
/// right-handed about the world axes; the x-y-z order of FSL's and SPM's parameter matrices). For an Affine transform
/// the rotation is that of the polar decomposition of the linear part.</para>
/// <para><b>Framewise displacement</b> (Power et al. 2012): FD_t = |dtx| + |dty| + |dtz| + r (|drx| + |dry| + |drz|)
/// with the differences between volumes t and t-1 and r = 50 mm; undefined (NaN) for the first volume.
/// <b>RMS displacement</b> (Jenkinson 1999, MCFLIRT's _abs.rms and _rel.rms): the root mean square, over a sphere of
/// radius 80 mm about c, of the distance a point moves: sqrt(r^2/5 tr(D'D) + |b|^2) with, relative to the reference,
/// D = L_t - I and b = A_t c - c, and relative to the previous volume D = L_t - L_t-1 and b = A_t c - A_t-1 c
/// (L the 3x3 part).</para>
/// <para><b>Threads.</b> Volumes are spread over <see cref="MotionCorrectionOptions.MaxDegreeOfParallelism"/> threads;
/// each volume's registration and resampling runs on one thread, every volume uses the same sampler seed, results are
/// stored by index and means are summed in volume order, so the output is the same bit for bit at any thread count.</para>
/// </summary>
public static class MotionCorrection
{
    /// <summary>Registers every volume of <paramref name="series"/> and returns the corrected series and the motion.</summary>
    /// <exception cref="ArgumentException">The series, reference or mask cannot be used; the message names the file.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled.</exception>
    public static MotionCorrectionResult Register(Image series, MotionCorrectionOptions options, IProgress<SeriesProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(series);
        ArgumentNullException.ThrowIfNull(options);
        var clock = Stopwatch.StartNew();
        string name = InputChecks.Describe(series, "series");
        if (series.Dimension != 3)
            throw new ArgumentException($"{Capital(name)} is 2D; motion correction needs a 4D series of 3D volumes.", nameof(series));
        int volumes = series.Volumes;
        if (volumes < 2)
            throw new ArgumentException($"{Capital(name)} has a single volume; motion correction needs a 4D series of at least 2 volumes.", nameof(series));
        if (options.Transform is not (TransformType.Translation or TransformType.Rigid or TransformType.Affine))
            throw new ArgumentException($"Motion correction supports Translation, Rigid and Affine transforms, not {options.Transform}.", nameof(options));
        if (options.Passes is < 1 or > 10)
            throw new ArgumentException($"Passes must be 1 to 10, got {options.Passes}.", nameof(options));
        int threads = options.MaxDegreeOfParallelism > 0 ? options.MaxDegreeOfParallelism : Environment.ProcessorCount;

        var (reference, fixedIndex, description) = FirstReference(series, options, threads, cancellationToken);
        if (options.Mask is { } mask && !mask.Grid.SameAs(reference.Grid, 1e-3))
            throw new ArgumentException($"The mask{(mask.SourcePath is { } mp ? $" '{mp}'" : "")} is on a {mask.Grid} grid, but the reference ({description}) is on {reference.Grid}; "
                + "the mask must be on the reference's grid.", nameof(options));
        InputChecks.ForAffine(reference, "reference", options.Mask);
        var centre = GeometricCentre(reference.Grid);

        var affines = new Matrix4[volumes];
        var iterations = new int[volumes * options.Passes];
        var passTimes = new TimeSpan[options.Passes];
        var baseOptions = options.Registration with
        {
            Stages = new[] { options.Transform },
            StaticMask = options.Mask,
            MovingMask = null,
            MaxDegreeOfParallelism = 1,
        };
        for (int pass = 1; pass <= options.Passes; pass++)
        {
            var passClock = Stopwatch.StartNew();
            string target = pass == 1 ? description : $"the mean of the pass-{pass - 1} corrected series";
            progress?.Report(new SeriesProgress(pass, options.Passes, 0, volumes,
                $"Pass {pass}/{options.Passes}: registering {volumes} volumes ({options.Transform.ToString().ToLowerInvariant()}) to {target} on {Math.Min(threads, volumes)} thread(s)."));
            int done = 0;
            var current = reference;
            int p = pass;
            if (options.Metric == SeriesMetric.LeastSquares)
            {
                var aligner = new LeastSquaresAligner(current, options.Mask, options.Transform, options.SmoothingSigma, series.Grid, centre, options.SampleCount);
                var start = (Matrix4[])affines.Clone();
                ForEachVolume(volumes, threads, cancellationToken, () => aligner.NewWorkspace(series.Grid), (t, ws) =>
                {
                    if (p == 1 && t == fixedIndex) affines[t] = Matrix4.Identity;
                    else (affines[t], iterations[(p - 1) * volumes + t]) = aligner.Align(series.Buffer, t * series.Grid.VoxelCount, series.Grid, p == 1 ? Matrix4.Identity : start[t], ws, cancellationToken);
                    int n = Interlocked.Increment(ref done);
                    progress?.Report(new SeriesProgress(p, options.Passes, n, volumes));
                });
            }
            else ForEachVolume(volumes, threads, cancellationToken, t =>
            {
                if (p == 1 && t == fixedIndex)
                {
                    affines[t] = Matrix4.Identity; // the reference volume itself
                }
                else
                {
                    var opts = p == 1
                        ? baseOptions with { Initialization = AffineInitialization.Identity, InitialMatrix = null }
                        : baseOptions with { Initialization = AffineInitialization.Matrix, InitialMatrix = affines[t] };
                    try
                    {
                        var map = AffineRegistration.Register(current, series.Volume(t), opts, null, cancellationToken);
                        affines[t] = map.Affine;
                        iterations[(p - 1) * volumes + t] = map.IterationsPerLevel.Sum();
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        throw new InvalidOperationException($"Volume {t} of {name}, pass {p}: {e.Message}", e);
                    }
                }
                int n = Interlocked.Increment(ref done);
                progress?.Report(new SeriesProgress(p, options.Passes, n, volumes));
            });
            if (pass < options.Passes)
                reference = MeanResampled(series, reference.Grid, affines, threads, cancellationToken);
            passTimes[pass - 1] = passClock.Elapsed;
            progress?.Report(new SeriesProgress(pass, options.Passes, volumes, volumes,
                $"Pass {pass}/{options.Passes} took {passClock.Elapsed.TotalSeconds:0.0} s ({passClock.Elapsed.TotalSeconds / volumes:0.000} s per volume)."));
        }

        // After a pass to the mean, the matrices are relative to the mean's frame, which is the first reference's frame
        // only up to the error of the first pass averaged over the run (a small constant offset shared by every volume;
        // measured: 0.03 degrees on the 40-volume test series). When the first reference is a volume of the series, the
        // result is put back into that volume's frame, as SPM Realign does after its pass to the mean:
        // A_t <- A_t A_ref^-1, so the reference volume is exactly the identity and the motion is relative to it.
        if (options.Passes > 1 && fixedIndex >= 0)
        {
            var back = affines[fixedIndex].Inverse();
            for (int t = 0; t < volumes; t++) affines[t] = t == fixedIndex ? Matrix4.Identity : affines[t] * back;
        }

        var correctedData = ResampleAll(series, series.Grid, affines, threads, cancellationToken);
        var corrected = new Image(series.Grid, correctedData, volumes, null, series.SourcePath, series.DataType, series.SourceHeader);
        var mean = MeanOf(correctedData, series.Grid, volumes);
        var parameters = Parameters(affines, centre, options.Transform, options.FramewiseRadius, options.RmsRadius);
        return new MotionCorrectionResult(series, corrected, mean, reference, affines, parameters, centre, options, description,
            clock.Elapsed, passTimes, iterations);
    }

    private static (Image Reference, int FixedIndex, string Description) FirstReference(Image series, MotionCorrectionOptions options, int threads, CancellationToken ct)
    {
        int volumes = series.Volumes;
        switch (options.Reference)
        {
            case SeriesReference.Middle:
                return (series.Volume(volumes / 2), volumes / 2, $"middle volume {volumes / 2}");
            case SeriesReference.First:
                return (series.Volume(0), 0, "first volume 0");
            case SeriesReference.Index:
                if (options.ReferenceIndex < 0 || options.ReferenceIndex >= volumes)
                    throw new ArgumentException($"Reference volume {options.ReferenceIndex} does not exist: {InputChecks.Describe(series, "series")} has volumes 0 to {volumes - 1}.", nameof(options));
                return (series.Volume(options.ReferenceIndex), options.ReferenceIndex, $"volume {options.ReferenceIndex}");
            case SeriesReference.Mean:
                ct.ThrowIfCancellationRequested();
                return (MeanOf(series.Buffer, series.Grid, volumes), -1, $"the mean of {volumes} volumes");
            case SeriesReference.Image:
                var image = options.ReferenceImage ?? throw new ArgumentException("Reference is Image but no ReferenceImage was given.", nameof(options));
                if (image.Dimension != 3 || image.Volumes != 1)
                    throw new ArgumentException($"{Capital(InputChecks.Describe(image, "reference"))} must be a single 3D volume; it is {image.Grid}{(image.Volumes > 1 ? $" x{image.Volumes}" : "")}. Pick one volume (Get-NiftiImage -Volume).", nameof(options));
                return (image, -1, image.SourcePath is { } p ? $"the reference image '{p}'" : "the reference image");
            default:
                throw new ArgumentOutOfRangeException(nameof(options));
        }
    }

    /// <summary>Runs <paramref name="body"/> for every volume on up to <paramref name="threads"/> threads; the first exception is rethrown as is.</summary>
    private static void ForEachVolume(int volumes, int threads, CancellationToken ct, Action<int> body)
    {
        var po = new ParallelOptions { MaxDegreeOfParallelism = threads, CancellationToken = ct };
        try
        {
            System.Threading.Tasks.Parallel.For(0, volumes, po, body);
        }
        catch (AggregateException e)
        {
            var inner = e.Flatten().InnerExceptions;
            var first = inner.FirstOrDefault(x => x is not OperationCanceledException) ?? inner[0];
            ExceptionDispatchInfo.Capture(first).Throw();
        }
    }

    /// <summary>As <see cref="ForEachVolume(int, int, CancellationToken, Action{int})"/>, with one <typeparamref name="TLocal"/> per worker thread (scratch reused across that thread's volumes).</summary>
    private static void ForEachVolume<TLocal>(int volumes, int threads, CancellationToken ct, Func<TLocal> local, Action<int, TLocal> body)
    {
        var po = new ParallelOptions { MaxDegreeOfParallelism = threads, CancellationToken = ct };
        try
        {
            System.Threading.Tasks.Parallel.For(0, volumes, po, local, (t, _, l) => { body(t, l); return l; }, _ => { });
        }
        catch (AggregateException e)
        {
            var inner = e.Flatten().InnerExceptions;
            var first = inner.FirstOrDefault(x => x is not OperationCanceledException) ?? inner[0];
            ExceptionDispatchInfo.Capture(first).Throw();
        }
    }

    /// <summary>
    /// Every volume t resampled onto <paramref name="target"/> through A_t (trilinear, zero-padded as DIPY's
    /// AffineMap.transform): the volume moved back into the reference's frame. One volume per thread.
    /// </summary>
    private static float[] ResampleAll(Image series, Grid target, Matrix4[] affines, int threads, CancellationToken ct)
    {
        int n = target.VoxelCount, src = series.Grid.VoxelCount;
        var output = new float[(long)n * series.Volumes];
        ForEachVolume(series.Volumes, threads, ct, t =>
        {
            var voxelMap = series.Grid.WorldToGrid * affines[t] * target.GridToWorld;
            SeriesResampling.Trilinear(series.Buffer, t * src, series.Grid, target, voxelMap, output, t * n);
        });
        return output;
    }

    /// <summary>
    /// The mean of every volume resampled onto <paramref name="target"/> as <see cref="ResampleAll"/> does, without
    /// holding the resampled series: the target's slices are spread over the threads, and each thread resamples its slice
    /// from every volume in turn and adds it up in double, in volume order, so the sums (and bits) are
    /// <see cref="MeanOf"/>'s of the resampled series at any thread count.
    /// </summary>
    private static Image MeanResampled(Image series, Grid target, Matrix4[] affines, int threads, CancellationToken ct)
    {
        int nx = target.NX, ny = target.NY, slice = nx * ny, src = series.Grid.VoxelCount, volumes = series.Volumes;
        var maps = affines.Select(a => series.Grid.WorldToGrid * a * target.GridToWorld).ToArray();
        var mean = new float[target.VoxelCount];
        ForEachVolume(target.NZ, threads, ct, () => (Values: new float[slice], Sums: new double[slice]), (k, ws) =>
        {
            Array.Clear(ws.Sums);
            for (int t = 0; t < volumes; t++)
            {
                SeriesResampling.Trilinear(series.Buffer, t * src, series.Grid, target, maps[t], ws.Values, -k * slice, k, k + 1);
                for (int q = 0; q < slice; q++) ws.Sums[q] += ws.Values[q];
            }
            for (int q = 0; q < slice; q++) mean[k * slice + q] = (float)(ws.Sums[q] / volumes);
        });
        return Image.FromVoxels(target, mean);
    }

    /// <summary>The voxel-wise mean over volumes, summed in double in volume order (so independent of threads).</summary>
    private static Image MeanOf(float[] data, Grid grid, int volumes)
    {
        int n = grid.VoxelCount;
        var mean = new float[n];
        var acc = new double[n];
        for (int t = 0; t < volumes; t++)
        {
            int o = t * n;
            for (int i = 0; i < n; i++) acc[i] += data[o + i];
        }
        for (int i = 0; i < n; i++) mean[i] = (float)(acc[i] / volumes);
        return Image.FromVoxels(grid, mean);
    }

    internal static double[] GeometricCentre(Grid g)
    {
        var (x, y, z) = g.ToWorld((g.NX - 1) / 2.0, (g.NY - 1) / 2.0, (g.NZ - 1) / 2.0);
        return new[] { x, y, z };
    }

    /// <summary>Parameters, framewise displacement and RMS displacements of every volume (see the class remarks).</summary>
    internal static MotionParameters[] Parameters(Matrix4[] affines, double[] c, TransformType type, double fdRadius, double rmsRadius)
    {
        var result = new MotionParameters[affines.Length];
        MotionParameters? previous = null;
        for (int t = 0; t < affines.Length; t++)
        {
            var a = affines[t];
            var (cx, cy, cz) = a.Apply(c[0], c[1], c[2]);
            double tx = cx - c[0], ty = cy - c[1], tz = cz - c[2];
            var l = Linear(a);
            var r = type == TransformType.Affine ? NearestRotation(l) : l;
            var (rx, ry, rz) = EulerXyz(r);
            double fd = double.NaN, rel = double.NaN;
            if (previous is { } q)
            {
                fd = Math.Abs(tx - q.TransX) + Math.Abs(ty - q.TransY) + Math.Abs(tz - q.TransZ)
                     + fdRadius * (Math.Abs(rx - q.RotX) + Math.Abs(ry - q.RotY) + Math.Abs(rz - q.RotZ));
                var lp = Linear(affines[t - 1]);
                var (px, py, pz) = affines[t - 1].Apply(c[0], c[1], c[2]);
                var d = new double[9];
                for (int i = 0; i < 9; i++) d[i] = l[i] - lp[i];
                rel = Rms(d, cx - px, cy - py, cz - pz, rmsRadius);
            }
            var dAbs = (double[])l.Clone();
            dAbs[0] -= 1; dAbs[4] -= 1; dAbs[8] -= 1;
            double abs = Rms(dAbs, tx, ty, tz, rmsRadius);
            result[t] = new MotionParameters(t, tx, ty, tz, rx, ry, rz, fd, abs, rel);
            previous = result[t];
        }
        return result;
    }

    /// <summary>
    /// RMS over a ball of radius r of |D y + b| (y uniform in the ball, so E[y y'] = r^2/5 I):
    /// sqrt(r^2/5 * sum of D's squared entries + |b|^2) (Jenkinson 1999).
    /// </summary>
    internal static double Rms(double[] d, double bx, double by, double bz, double r)
    {
        double f = 0;
        for (int i = 0; i < 9; i++) f += d[i] * d[i];
        return Math.Sqrt(r * r / 5 * f + bx * bx + by * by + bz * bz);
    }

    private static double[] Linear(Matrix4 a) =>
        new[] { a[0, 0], a[0, 1], a[0, 2], a[1, 0], a[1, 1], a[1, 2], a[2, 0], a[2, 1], a[2, 2] };

    /// <summary>
    /// Angles (rx, ry, rz) of R = Rx(rx) Ry(ry) Rz(rz). Multiplying out, row 0 is (cy cz, -cy sz, sy) and column 2 is
    /// (sy, -sx cy, cx cy), so ry = asin(R02), rx = atan2(-R12, R22), rz = atan2(-R01, R00) (|ry| &lt; 90 degrees).
    /// </summary>
    internal static (double X, double Y, double Z) EulerXyz(double[] r)
    {
        double ry = Math.Asin(Math.Clamp(r[2], -1, 1));
        double rx = Math.Atan2(-r[5], r[8]);
        double rz = Math.Atan2(-r[1], r[0]);
        return (rx, ry, rz);
    }

    /// <summary>
    /// The rotation of the polar decomposition L = R S, by Newton's iteration R &lt;- (R + R^-T) / 2, which converges
    /// quadratically for the near-rotations of head motion.
    /// </summary>
    internal static double[] NearestRotation(double[] l)
    {
        var r = (double[])l.Clone();
        for (int it = 0; it < 50; it++)
        {
            var inv = Inverse3(r);
            var next = new double[9];
            double change = 0;
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                {
                    next[i * 3 + j] = 0.5 * (r[i * 3 + j] + inv[j * 3 + i]);
                    change = Math.Max(change, Math.Abs(next[i * 3 + j] - r[i * 3 + j]));
                }
            r = next;
            if (change < 1e-15) break;
        }
        return r;
    }

    private static double[] Inverse3(double[] m)
    {
        double a = m[0], b = m[1], c = m[2], d = m[3], e = m[4], f = m[5], g = m[6], h = m[7], k = m[8];
        double det = a * (e * k - f * h) - b * (d * k - f * g) + c * (d * h - e * g);
        return new[]
        {
            (e * k - f * h) / det, (c * h - b * k) / det, (b * f - c * e) / det,
            (f * g - d * k) / det, (a * k - c * g) / det, (c * d - a * f) / det,
            (d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det,
        };
    }

    private static string Capital(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];
}
