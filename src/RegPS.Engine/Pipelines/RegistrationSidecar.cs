using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using RegPS.Engine.Common;

namespace RegPS.Engine.Pipelines;

/// <summary>
/// The JSON sidecar of a registered image (..._desc-preproc_T1w.json): provenance (RegPS version, input and template
/// hashes, the parameters and their hash, the sampling seed, the start time), the registration's outcome (metrics,
/// folded voxels, iterations per level, elapsed time) and the files written. It is written last, so its presence with
/// matching hashes is what makes a subject up to date.
/// </summary>
public sealed class RegistrationSidecar
{
    /// <summary>What the derivative is, in words (BIDS "Description").</summary>
    public string Description { get; set; } = "";

    public string RegPSVersion { get; set; } = "";

    /// <summary>The template space label (BIDS "SpatialReference" names it too).</summary>
    public string Space { get; set; } = "";

    /// <summary>
    /// BIDS Sources: the raw input as a BIDS URI (bids:raw:sub-01/anat/sub-01_T1w.nii.gz, resolved through
    /// dataset_description.json's DatasetLinks) and the transform that made the image (bids::..._xfm.h5, this dataset).
    /// </summary>
    public string[] Sources { get; set; } = Array.Empty<string>();
    /// <summary>BIDS SpatialReference: the template image the output grid comes from (a TemplateFlow BIDS URI when it is one).</summary>
    public string SpatialReference { get; set; } = "";
    public string InputSHA256 { get; set; } = "";

    public string? TemplateSource { get; set; }
    public string TemplateSHA256 { get; set; } = "";

    /// <summary>The command's parameters as given to the engine (mode, level iterations...).</summary>
    public SidecarParameters Parameters { get; set; } = new();

    /// <summary>The canonical parameter line whose hash is <see cref="ParametersSHA256"/>.</summary>
    public string ParameterString { get; set; } = "";
    public string ParametersSHA256 { get; set; } = "";

    /// <summary>The seed of the affine stage's sampler (reported whether or not sampling is sparse).</summary>
    public int SamplingSeed { get; set; }

    /// <summary>Final mutual information (nats) of the affine stage.</summary>
    public double AffineMutualInformation { get; set; }

    /// <summary>Function evaluations per affine stage and level, stage-major, coarsest first.</summary>
    public int[] AffineIterationsPerLevel { get; set; } = Array.Empty<int>();

    /// <summary>SyN's final correlation with the template (Syn mode, else null).</summary>
    public double? SynFinalCorrelation { get; set; }

    /// <summary>SyN iterations per level, coarsest first (Syn mode, else null).</summary>
    public int[]? SynIterationsPerLevel { get; set; }

    /// <summary>Template voxels where the warp folds (Jacobian determinant &lt;= 0); 0 or null for an affine.</summary>
    public int? FoldedVoxels { get; set; }

    public double ElapsedSeconds { get; set; }

    /// <summary>UTC ISO 8601 time the subject started.</summary>
    public string StartTimeUtc { get; set; } = "";

    /// <summary>The files written, relative to the derivatives root.</summary>
    public string[] Outputs { get; set; } = Array.Empty<string>();

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <exception cref="JsonException">The text is not a sidecar.</exception>
    public static RegistrationSidecar FromJson(string json) =>
        JsonSerializer.Deserialize<RegistrationSidecar>(json, Json) ?? throw new JsonException("The sidecar is empty (null).");

    /// <summary>Writes the sidecar atomically (temporary file, then rename).</summary>
    public void Write(string path, bool overwrite = true) =>
        AtomicFile.Write(path, overwrite, s => s.Write(Encoding.UTF8.GetBytes(ToJson())));

    /// <summary>Reads a sidecar, or null when the file is missing or not a readable sidecar.</summary>
    public static RegistrationSidecar? TryRead(string path)
    {
        try
        {
            return File.Exists(path) ? FromJson(File.ReadAllText(path)) : null;
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return null;
        }
    }
}

/// <summary>The registration parameters as recorded in a sidecar.</summary>
public sealed class SidecarParameters
{
    public RegistrationMode Mode { get; set; }
    public string TemplateName { get; set; } = "";
    public string[] AffineStages { get; set; } = Array.Empty<string>();
    public string AffineInitialization { get; set; } = "";
    public int[] AffineLevelIterations { get; set; } = Array.Empty<int>();
    public double[] AffineSigmas { get; set; } = Array.Empty<double>();
    public int[] AffineFactors { get; set; } = Array.Empty<int>();
    public int AffineBins { get; set; }
    public double? AffineSamplingProportion { get; set; }
    /// <summary>Dense, Regular (DIPY's sparse mode) or Random (off-grid points, RegPS's default).</summary>
    public string AffineSampling { get; set; } = "";
    public int[]? AffineSampleCounts { get; set; }
    public string AffineInterpolation { get; set; } = "";
    public int[]? LevelIterations { get; set; }
    /// <summary>The SyN preset the settings started from: Default (RegPS's) or Dipy.</summary>
    public string? SynPreset { get; set; }
    public string? SynMetric { get; set; }
    public int? SynRadius { get; set; }
    public double? SynSigmaDiff { get; set; }
    public double? SynStepLength { get; set; }
    /// <summary>How SyN scaled its updates: LevelMaximum (RegPS's default) or EachIteration (DIPY's).</summary>
    public string? SynStepScaling { get; set; }
    /// <summary>When SyN inverted its forward half-maps back: ImageLevelLast (RegPS's 3D default) or EveryIteration (DIPY's).</summary>
    public string? SynReinversion { get; set; }

    /// <summary>Engine threads used for this subject (does not change the result).</summary>
    public int MaxDegreeOfParallelism { get; set; }

    public static SidecarParameters From(PipelineSettings s)
    {
        bool syn = s.Mode == RegistrationMode.Syn;
        return new SidecarParameters
        {
            Mode = s.Mode,
            TemplateName = s.TemplateName,
            AffineStages = s.Affine.Stages.Select(t => t.ToString()).ToArray(),
            AffineInitialization = s.Affine.Initialization.ToString(),
            AffineLevelIterations = s.Affine.LevelIterations,
            AffineSigmas = s.Affine.Sigmas,
            AffineFactors = s.Affine.Factors,
            AffineBins = s.Affine.Bins,
            AffineSamplingProportion = s.Affine.SamplingProportion,
            AffineSampling = (s.Affine.SamplingProportion is null ? s.Affine.Sampling : Registration.AffineSampling.Regular).ToString(),
            AffineSampleCounts = s.Affine.SamplingProportion is null && s.Affine.Sampling == Registration.AffineSampling.Random ? s.Affine.SampleCounts : null,
            AffineInterpolation = s.Affine.SamplingProportion is null && s.Affine.Sampling == Registration.AffineSampling.Random && s.Affine.CubicInterpolation ? "CubicBSpline" : "Linear",
            LevelIterations = syn ? s.Syn.IterationsFor(3) : null,
            SynPreset = syn ? s.Syn.Preset.ToString() : null,
            SynMetric = syn ? s.Syn.Metric.ToString() : null,
            SynRadius = syn ? s.Syn.RadiusFor(3) : null,
            SynSigmaDiff = syn ? s.Syn.SigmaDiff : null,
            SynStepLength = syn ? s.Syn.StepLength : null,
            SynStepScaling = syn ? s.Syn.StepScaling.ToString() : null,
            SynReinversion = syn ? s.Syn.ReinversionFor(3).ToString() : null,
            MaxDegreeOfParallelism = s.MaxDegreeOfParallelism,
        };
    }
}
