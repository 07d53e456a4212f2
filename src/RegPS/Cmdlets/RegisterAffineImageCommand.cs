using System.Management.Automation;
using RegPS.Engine.Images;
using RegPS.Engine.Registration;

namespace RegPS.Cmdlets;

/// <summary>
/// Affine registration by mutual information (DIPY's AffineRegistration), multi-resolution, 2D or 3D.
/// Returns an AffineMap: the world matrix from the static image to the moving image plus Transform/TransformInverse.
/// </summary>
[Cmdlet(VerbsLifecycle.Register, "AffineImage")]
[OutputType(typeof(AffineMap))]
public sealed class RegisterAffineImageCommand : RegistrationCmdlet
{
    /// <summary>Default (RegPS's measured defaults) or Dipy (DIPY 1.6's AffineRegistration); other parameters override it.</summary>
    [Parameter]
    public AffinePreset Preset { get; set; } = AffinePreset.Default;

    /// <summary>The stage or stages to run in order; default Translation, Rigid, Affine (after centres of mass).</summary>
    [Parameter]
    public TransformType[]? Transform { get; set; }

    /// <summary>Identity, CentersOfMass, GeometricCenters, an AffineMap, a Matrix4, or a 4x4 array.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(Completers.InitialCompleter))]
    public object? Initial { get; set; }

    [Parameter]
    public RotationCenter Center { get; set; } = RotationCenter.GeometricCenter;

    [Parameter]
    [ValidateRange(8, 255)]
    public int Bins { get; set; } = 64;

    [Parameter]
    [ValidateNotNullOrEmpty]
    public int[]? LevelIterations { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public double[]? Sigmas { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public int[]? Factors { get; set; }

    [Parameter]
    [ValidateRange(0.0001, 1.0)]
    public double SamplingProportion { get; set; }

    /// <summary>Random off-grid points per level, coarsest first (Default preset: 20000, 20000, 20000, 150000).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ValidateRange(1, int.MaxValue)]
    public int[]? SampleCount { get; set; }

    [Parameter]
    public int Seed { get; set; } = 1234;

    [Parameter]
    public Image? StaticMask { get; set; }

    [Parameter]
    public Image? MovingMask { get; set; }

    protected override void ProcessRecord()
    {
        AffineOptions options;
        try
        {
            options = BuildOptions();
        }
        catch (ArgumentException e)
        {
            ThrowTerminatingError(new ErrorRecord(e, "InvalidRegistrationOptions", ErrorCategory.InvalidArgument, Initial));
            return;
        }
        Register("AffineRegistrationFailed", (progress, token) =>
        {
            InputChecks.ForAffine(Static, "static", StaticMask);
            InputChecks.ForAffine(Moving, "moving", MovingMask);
            return AffineRegistration.Register(Static, Moving, options, progress, token);
        });
    }

    private AffineOptions BuildOptions()
    {
        var defaults = AffineOptions.ForPreset(Preset);
        var (init, matrix) = ParseInitial(Initial);
        int levels = (LevelIterations ?? defaults.LevelIterations).Length;
        var sigmas = Sigmas ?? defaults.Sigmas;
        var factors = Factors ?? defaults.Factors;
        if (sigmas.Length != levels || factors.Length != levels)
            throw new ArgumentException($"-LevelIterations, -Sigmas and -Factors need one value per level; got {levels}, {sigmas.Length} and {factors.Length}.");
        return defaults with
        {
            Stages = Transform is { Length: > 0 } ? Transform : defaults.Stages,
            Initialization = init,
            InitialMatrix = matrix,
            Center = Center,
            Bins = MyInvocation.BoundParameters.ContainsKey(nameof(Bins)) ? Bins : defaults.Bins,
            LevelIterations = LevelIterations ?? defaults.LevelIterations,
            Sigmas = sigmas,
            Factors = factors,
            SamplingProportion = MyInvocation.BoundParameters.ContainsKey(nameof(SamplingProportion)) ? SamplingProportion : null,
            SampleCounts = SampleCount ?? defaults.SampleCounts,
            Seed = Seed,
            StaticMask = StaticMask,
            MovingMask = MovingMask,
            MaxDegreeOfParallelism = MaxDegreeOfParallelism,
        };
    }

    internal static (AffineInitialization, Matrix4?) ParseInitial(object? initial)
    {
        var value = Remoting.DeserializingConverter.Unwrap(initial);
        switch (value)
        {
            case null:
                return (AffineInitialization.CentersOfMass, null);
            case AffineInitialization a when a != AffineInitialization.Matrix:
                return (a, null);
            case string s when Enum.TryParse<AffineInitialization>(s, true, out var a2) && a2 != AffineInitialization.Matrix:
                return (a2, null);
            case AffineMap m:
                return (AffineInitialization.Matrix, m.Affine);
            case Matrix4 m4:
                return (AffineInitialization.Matrix, m4);
            case double[,] d when d.GetLength(0) == 4 && d.GetLength(1) == 4:
                var flat = new double[16];
                for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) flat[i * 4 + j] = d[i, j];
                return (AffineInitialization.Matrix, new Matrix4(flat));
            case PSCustomObject when initial is PSObject saved
                && (saved.Properties["Matrix"] ?? saved.Properties["PrealignMatrix"]) is { Value: not null } matrix:
                // A map written by ConvertTo-Json and read back by ConvertFrom-Json: an AffineMap's Matrix or a
                // DiffeomorphicMap's PrealignMatrix, a 4x4 array (see RegPS.Types.ps1xml).
                var (_, parsed) = ParseInitial(matrix.Value);
                if (parsed is not null) return (AffineInitialization.Matrix, parsed);
                break;
            case System.Collections.IList list when list.Count == 4 && value is not string:
                var rows = list.Cast<object>().ToArray();
                var values = rows.Select(r => (r is PSObject p ? p.BaseObject : r) as System.Collections.IEnumerable)
                    .Select(r => r?.Cast<object>().Select(v => Convert.ToDouble(v is PSObject p2 ? p2.BaseObject : v, System.Globalization.CultureInfo.InvariantCulture)).ToArray())
                    .ToArray();
                if (values.All(r => r is { Length: 4 })) return (AffineInitialization.Matrix, Matrix4.FromRows(values!));
                break;
        }
        throw new ArgumentException($"-Initial takes Identity, CentersOfMass, GeometricCenters, an AffineMap, a Matrix4, a 4x4 array or a map read back with ConvertFrom-Json; got '{value}'.");
    }
}
