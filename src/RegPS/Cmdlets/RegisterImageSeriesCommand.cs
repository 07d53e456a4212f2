using System.Globalization;
using System.Management.Automation;
using RegPS.Engine.Images;
using RegPS.Engine.IO;
using RegPS.Engine.Registration;

namespace RegPS.Cmdlets;

/// <summary>
/// Motion correction of a 4D series (e.g. a BOLD run): every volume registered to a reference (rigid by default, two
/// passes), the per-volume motion in fMRIPrep's conventions, framewise displacement and the corrected series.
/// </summary>
[Cmdlet(VerbsLifecycle.Register, "ImageSeries", DefaultParameterSetName = "Image")]
[OutputType(typeof(MotionCorrectionResult))]
public sealed class RegisterImageSeriesCommand : RegCmdlet
{
    /// <summary>The 4D series (e.g. from Get-NiftiImage).</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Image", ValueFromPipeline = true)]
    public Image Image { get; set; } = null!;

    /// <summary>4D NIfTI files to read and correct (wildcards allowed).</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Path")]
    [SupportsWildcards]
    public string[] Path { get; set; } = Array.Empty<string>();

    /// <summary>4D NIfTI files, used exactly as typed; files piped from Get-ChildItem bind here.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP")]
    public string[] LiteralPath { get; set; } = Array.Empty<string>();

    /// <summary>Translation, Rigid (default) or Affine.</summary>
    [Parameter]
    [ValidateSet("Translation", "Rigid", "Affine")]
    public string Transform { get; set; } = "Rigid";

    /// <summary>LeastSquares (default; same-contrast volumes, fast) or MutualInformation.</summary>
    [Parameter]
    [ValidateSet("LeastSquares", "MutualInformation")]
    public string Metric { get; set; } = "LeastSquares";

    /// <summary>The first pass's reference: Middle (default), Mean, First, a volume index, or a 3D image.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(Completers.SeriesReferenceCompleter))]
    public object? Reference { get; set; }

    /// <summary>A mask on the reference's grid: only its nonzero voxels drive the registration.</summary>
    [Parameter]
    public Image? Mask { get; set; }

    /// <summary>Volumes registered at once (0 = all cores); results do not depend on it.</summary>
    [Parameter]
    [ValidateRange(0, 1024)]
    public int MaxDegreeOfParallelism { get; set; }

    /// <summary>1: to the reference only; 2 (default): then to the mean of the corrected series.</summary>
    [Parameter]
    [ValidateRange(1, 10)]
    public int Passes { get; set; } = 2;

    private MotionCorrectionOptions? _options;

    protected override void BeginProcessing()
    {
        try
        {
            _options = BuildOptions();
        }
        catch (ArgumentException e)
        {
            ThrowTerminatingError(new ErrorRecord(e, "InvalidReference", ErrorCategory.InvalidArgument, Reference));
        }
    }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == "Image")
        {
            Correct(Image, Image);
            return;
        }
        foreach (var file in ResolveInputPaths(ParameterSetName == "LiteralPath" ? LiteralPath : Path, ParameterSetName == "LiteralPath"))
        {
            Image series;
            try
            {
                WriteVerbose($"Reading {file}");
                series = NiftiReader.Read(file, null, StopToken);
            }
            catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
            {
                throw new PipelineStoppedException();
            }
            catch (Exception e) when (e is not PipelineStoppedException)
            {
                WriteInputError(e, "NiftiReadFailed", file);
                continue;
            }
            Correct(series, file);
        }
    }

    private void Correct(Image series, object target)
    {
        var options = _options!;
        string activity = $"Register-ImageSeries {series.FileName}".Trim();
        try
        {
            var result = RunWithProgress<SeriesProgress, MotionCorrectionResult>(activity,
                (progress, token) => MotionCorrection.Register(series, options, progress, token),
                p => new ProgressRecord(1, activity, $"Pass {p.Pass}/{p.Passes}: {p.Completed}/{p.Volumes} volumes")
                {
                    PercentComplete = (int)Math.Clamp(100.0 * (p.Pass - 1 + (double)p.Completed / Math.Max(1, p.Volumes)) / p.Passes, 0, 100),
                },
                p => p.Message);
            WriteVerbose(string.Create(CultureInfo.InvariantCulture,
                $"{result.Volumes} volumes in {result.Elapsed.TotalSeconds:0.0} s; mean FD {result.MeanFramewiseDisplacement:0.###} mm, max {result.MaxFramewiseDisplacement:0.###} mm, {result.VolumesAbove05mm} above 0.5 mm."));
            WriteObject(result);
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteInputError(e, "SeriesRegistrationFailed", target);
        }
    }

    private MotionCorrectionOptions BuildOptions()
    {
        var transform = Enum.Parse<TransformType>(Transform, ignoreCase: true);
        var options = new MotionCorrectionOptions
        {
            Transform = transform,
            Metric = Enum.Parse<SeriesMetric>(Metric, ignoreCase: true),
            Passes = Passes,
            Mask = Mask,
            MaxDegreeOfParallelism = MaxDegreeOfParallelism,
        };
        var value = Reference is PSObject pso ? pso.BaseObject : Reference;
        switch (value)
        {
            case null:
                return options;
            case Image image:
                return options with { Reference = SeriesReference.Image, ReferenceImage = image };
            case int or long or short or byte:
                return options with { Reference = SeriesReference.Index, ReferenceIndex = Convert.ToInt32(value, CultureInfo.InvariantCulture) };
            case string s when int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int index):
                return options with { Reference = SeriesReference.Index, ReferenceIndex = index };
            case string s when Enum.TryParse<SeriesReference>(s, true, out var kind) && kind is SeriesReference.Middle or SeriesReference.Mean or SeriesReference.First:
                return options with { Reference = kind };
            default:
                throw new ArgumentException($"-Reference takes Middle, Mean, First, a volume index or a 3D image (Get-NiftiImage); got '{value}'.");
        }
    }
}
