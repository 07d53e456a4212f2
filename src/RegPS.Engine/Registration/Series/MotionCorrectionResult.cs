using RegPS.Engine.Images;

namespace RegPS.Engine.Registration;

/// <summary>
/// One volume's motion relative to the reference, in fMRIPrep's confound conventions (see <see cref="MotionCorrection"/>
/// for the exact definition), its framewise displacement and RMS displacements. NaN where a value is undefined
/// (framewise displacement and relative RMS of the first volume).
/// </summary>
public sealed record MotionParameters(
    int Volume,
    double TransX, double TransY, double TransZ,
    double RotX, double RotY, double RotZ,
    double FramewiseDisplacement,
    double RmsAbsolute,
    double RmsRelative);

/// <summary>Progress of <see cref="MotionCorrection.Register"/>: a volume finished in a pass, or a message at a pass's start.</summary>
public sealed record SeriesProgress(int Pass, int Passes, int Completed, int Volumes, string? Message = null);

/// <summary>The result of <see cref="MotionCorrection.Register"/>.</summary>
public sealed class MotionCorrectionResult
{
    internal MotionCorrectionResult(Image source, Image corrected, Image mean, Image reference, Matrix4[] affines,
        MotionParameters[] parameters, double[] center, MotionCorrectionOptions options, string referenceDescription,
        TimeSpan elapsed, TimeSpan[] passTimes, int[] iterations)
    {
        Iterations = iterations;
        Source = source;
        Corrected = corrected;
        Mean = mean;
        Reference = reference;
        _affines = affines;
        _parameters = parameters;
        Center = center;
        Options = options;
        ReferenceDescription = referenceDescription;
        Elapsed = elapsed;
        PassTimes = passTimes;
    }

    private readonly Matrix4[] _affines;
    private readonly MotionParameters[] _parameters;

    /// <summary>
    /// Volume t's motion as a map (<see cref="AffineMap"/> with A_t, from the source grid to the source grid): what
    /// produced volume t of <see cref="Corrected"/>, for applying to one volume of another series of the same run
    /// (Invoke-RegTransform; a whole series takes the result itself: <c>$echo2 | Invoke-RegTransform -Transform $mc</c>).
    /// </summary>
    public IReadOnlyList<AffineMap> Maps => _maps ??= _affines.Select(a => new AffineMap(a, Source.Grid, Source.Grid)).ToArray();

    private AffineMap[]? _maps;

    /// <summary>The series that was corrected.</summary>
    public Image Source { get; }

    /// <summary>The corrected series: every volume resampled into the reference's frame, on the source's grid, with the source's header (TR, units).</summary>
    public Image Corrected { get; }

    /// <summary>The temporal mean of <see cref="Corrected"/>.</summary>
    public Image Mean { get; }

    /// <summary>The image the last pass registered to (the first reference after one pass, else the mean of the previous pass).</summary>
    public Image Reference { get; }

    /// <summary>How the first reference was chosen, e.g. "middle volume 20" or "mean of 40 volumes".</summary>
    public string ReferenceDescription { get; }

    public int Volumes => _parameters.Length;
    public string FileName => Source.FileName;
    public TransformType Transform => Options.Transform;
    public int Passes => Options.Passes;

    /// <summary>Per volume, the reference-world -> volume-world matrix (mm), DIPY's AffineMap meaning.</summary>
    public IReadOnlyList<Matrix4> Affines => _affines;

    /// <summary>Per volume, in order.</summary>
    public IReadOnlyList<MotionParameters> Parameters => _parameters;

    /// <summary>The reference's centre (world mm) the rotations are about.</summary>
    public double[] Center { get; }

    public MotionCorrectionOptions Options { get; }
    public TimeSpan Elapsed { get; }

    /// <summary>
    /// Optimiser iterations per volume and pass, pass by pass (volumes of pass 1, then pass 2, ...): Gauss-Newton steps
    /// for least squares, metric evaluations summed over levels for mutual information; 0 for the fixed reference volume.
    /// </summary>
    public IReadOnlyList<int> Iterations { get; }

    /// <summary>Wall time of each pass.</summary>
    public IReadOnlyList<TimeSpan> PassTimes { get; }

    /// <summary>Wall time per volume and pass (Elapsed / (Volumes * Passes)).</summary>
    public double SecondsPerVolume => Elapsed.TotalSeconds / Math.Max(1, Volumes * Passes);

    /// <summary>The repetition time in seconds from the source header (pixdim[4], scaled by xyzt_units), or NaN.</summary>
    public double RepetitionTime
    {
        get
        {
            if (Source.SourceHeader is not { } h || h.PixDim.Length < 5 || !(h.PixDim[4] > 0)) return double.NaN;
            // xyzt_units bits 3..5: 8 seconds, 16 milliseconds, 24 microseconds; unknown (0) is taken as seconds.
            return (h.XyztUnits & 0x38) switch { 16 => h.PixDim[4] / 1e3, 24 => h.PixDim[4] / 1e6, _ => h.PixDim[4] };
        }
    }

    /// <summary>Mean framewise displacement over volumes 1.. (mm); NaN for a single volume.</summary>
    public double MeanFramewiseDisplacement => Volumes < 2 ? double.NaN : _parameters.Skip(1).Average(p => p.FramewiseDisplacement);

    /// <summary>Largest framewise displacement (mm); NaN for a single volume.</summary>
    public double MaxFramewiseDisplacement => Volumes < 2 ? double.NaN : _parameters.Skip(1).Max(p => p.FramewiseDisplacement);

    /// <summary>The number of volumes whose framewise displacement exceeds <paramref name="threshold"/> mm.</summary>
    public int CountAbove(double threshold) => _parameters.Count(p => p.FramewiseDisplacement > threshold);

    /// <summary>Volumes with framewise displacement above 0.5 mm (a common censoring threshold).</summary>
    public int VolumesAbove05mm => CountAbove(0.5);

    public override string ToString() =>
        $"{(FileName.Length > 0 ? FileName + ": " : "")}{Volumes} volumes, mean FD {MeanFramewiseDisplacement:0.###} mm, max FD {MaxFramewiseDisplacement:0.###} mm";
}
