using System.Collections;
using System.Management.Automation;
using RegPS.Engine.Images;
using RegPS.Engine.Registration;
using RegPS.Engine.Resampling;
using RegPS.Engine.TransformFiles;
using RegPS.Engine.Transforms;

namespace RegPS.Cmdlets;

/// <summary>
/// Applies a list of transforms to an image in one resampling. The list is in the order the image travels through the
/// transforms (an ITK composite's queue order; the reverse of antsApplyTransforms' -t order), so a point of the output
/// grid goes through them from the last listed to the first. Each transform may be inverted
/// (-Invert mask, or a @(transform, $true) pair). -Reference sets the output grid, -DefaultValue the value outside
/// the input.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "RegTransform")]
[OutputType(typeof(Image))]
public sealed class InvokeRegTransformCommand : RegCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    public Image Image { get; set; } = null!;

    /// <summary>
    /// The transforms, in the order the image travels through them (ITK composite order, the reverse of antsApplyTransforms' -t order): AffineMap,
    /// DiffeomorphicMap, TransformChain (Import-RegTransform), or file paths (.json, .txt, .tfm, .mat, .nii.gz, .h5).
    /// An element @(transform, $true) is inverted. A motion correction (Register-ImageSeries' result) applies volume t's
    /// motion to volume t of a 4D image with as many volumes.
    /// </summary>
    [Parameter(Mandatory = true, Position = 1)]
    [Alias("Map", "Path", "TransformPath")]
    public object[] Transform { get; set; } = Array.Empty<object>();

    /// <summary>One flag per transform: $true inverts that transform (ANTs' [file,1]).</summary>
    [Parameter]
    public bool[]? Invert { get; set; }

    /// <summary>Invert the whole chain (the transforms reversed, each inverted): a map's static image onto its moving grid.</summary>
    [Parameter]
    public SwitchParameter Inverse { get; set; }

    /// <summary>
    /// The output grid: an image, a Grid, or @{ Shape = 91,109,91; Affine = 4x4 rows } (RAS grid-to-world). Default:
    /// the grid of the output side of the chain (a map's static grid, or its moving grid when inverted; a field's own grid).
    /// </summary>
    [Parameter]
    public object? Reference { get; set; }

    /// <summary>The value of output voxels whose point falls outside the input image (default 0).</summary>
    [Parameter]
    public float DefaultValue { get; set; }

    [Parameter]
    public Interpolation Interpolation { get; set; } = Interpolation.Linear;

    [Parameter]
    [ValidateRange(0, 1024)]
    public int MaxDegreeOfParallelism { get; set; }

    private readonly List<(object Item, bool Invert)> _items = new();
    private TransformChain _chain = null!;
    private Grid? _reference;
    private object? _singleMap;

    private MotionCorrectionResult? _motion;

    protected override void BeginProcessing()
    {
        if (Invert is not null && Invert.Length != Transform.Length)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException($"-Invert has {Invert.Length} flags for {Transform.Length} transforms; give one flag per transform."),
                "InvertLengthMismatch", ErrorCategory.InvalidArgument, Invert));
        for (int i = 0; i < Transform.Length; i++)
        {
            var (item, inv) = Unpair(Transform[i]);
            _items.Add((Load(item), inv || (Invert?[i] ?? false)));
        }
        var motions = _items.Select(p => p.Item).OfType<MotionCorrectionResult>().Distinct().ToList();
        if (motions.Count > 1)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-Transform holds more than one motion correction; give one (it applies per volume)."),
                "SeveralMotionCorrections", ErrorCategory.InvalidArgument, Transform));
        _motion = motions.FirstOrDefault();
        _chain = ChainFor(0);
        if (Reference is not null) _reference = ReferenceGrid(Reference);
        else _reference = DefaultGrid();
        // A lone RegPS map applied as registered keeps DIPY's semantics (zero-padded linear), as before.
        if (_items.Count == 1 && _items[0].Item is AffineMap or DiffeomorphicMap && Reference is null && DefaultValue == 0
            && Interpolation is Interpolation.Linear or Interpolation.Nearest && !_items[0].Invert)
            _singleMap = _items[0].Item;
        WriteVerbose("Output point -> input point: " + string.Join(" -> ", _chain.Steps.Reverse().Select(s => s.ToString())) +
            (_reference is null ? "" : $"; output grid {_reference}"));
    }

    /// <summary>The whole chain, with volume <paramref name="volume"/>'s map in place of a motion correction.</summary>
    private TransformChain ChainFor(int volume)
    {
        var parts = _items.Select(p => (Chain: AsChain(p.Item is MotionCorrectionResult mc ? mc.Maps[volume] : p.Item), p.Invert)).ToList();
        try
        {
            var chain = TransformChain.Concat(parts);
            return Inverse ? chain.Inverse() : chain;
        }
        catch (InvalidOperationException e)
        {
            ThrowTerminatingError(new ErrorRecord(e, "NotInvertible", ErrorCategory.InvalidArgument, Transform));
            return null!;
        }
    }

    /// <summary>Volume t of the image through the chain with volume t's motion; the volumes stacked again (header and TR kept).</summary>
    private Image ApplyPerVolume(MotionCorrectionResult motion, Grid grid)
    {
        if (Image.Volumes != motion.Volumes)
            throw new ArgumentException($"{(Image.SourcePath is { } p ? $"'{p}'" : "The image")} has {Image.Volumes} volume(s) but the motion correction of {motion.FileName} has {motion.Volumes}; "
                + "give a series of the same run (or one volume with -Transform $mc.Maps[t]).");
        int n = grid.VoxelCount;
        var data = new float[(long)n * Image.Volumes];
        for (int t = 0; t < Image.Volumes; t++)
        {
            StopToken.ThrowIfCancellationRequested();
            var one = ChainResampler.Apply(Image.Volume(t), grid, ChainFor(t), Interpolation, DefaultValue, MaxDegreeOfParallelism, StopToken);
            Array.Copy(one.Buffer, 0, data, (long)t * n, n);
        }
        return new Image(grid, data, Image.Volumes, null, Image.SourcePath, Image.DataType, Image.SourceHeader);
    }

    protected override void ProcessRecord()
    {
        try
        {
            if (_motion is not null)
            {
                var target = _reference ?? Image.Grid;
                WriteObject(ApplyPerVolume(_motion, target));
                return;
            }
            if (_singleMap is not null)
            {
                WriteObject(MapApplier.Apply(_singleMap, Image, Interpolation, Inverse, MaxDegreeOfParallelism));
                return;
            }
            var grid = _reference ?? throw new ArgumentException("The transforms carry no output grid (ITK affines do not); pass -Reference (an image, or @{ Shape = ...; Affine = ... }).");
            WriteObject(ChainResampler.Apply(Image, grid, _chain, Interpolation, DefaultValue, MaxDegreeOfParallelism, StopToken));
        }
        catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteInputError(e, "TransformFailed", Image);
        }
    }

    private static (object Item, bool Invert) Unpair(object o)
    {
        var v = Remoting.DeserializingConverter.Unwrap(o);
        if (v is object[] { Length: 2 } pair && (pair[1] is PSObject ps ? ps.BaseObject : pair[1]) is bool b)
            return (Remoting.DeserializingConverter.Unwrap(pair[0])!, b);
        return (v!, false);
    }

    private object Load(object item)
    {
        string? path = item switch
        {
            string s => s,
            FileInfo f => f.FullName,
            _ => null,
        };
        if (path is null) return item;
        string full = path;
        try
        {
            full = GetResolvedProviderPathFromPSPath(path, out _).FirstOrDefault() ?? path;
            return TransformFile.IsManifest(full) ? MapFile.Load(full, StopToken) : TransformFile.Load(full, StopToken);
        }
        catch (ItemNotFoundException e)
        {
            ThrowTerminatingError(new ErrorRecord(e, "TransformNotFound", ErrorCategory.ObjectNotFound, path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
        {
            ThrowTerminatingError(new ErrorRecord(e, "TransformReadFailed", ErrorCategory.InvalidData, full));
        }
        return null!;
    }

    private TransformChain AsChain(object item)
    {
        try
        {
            return item switch
            {
                TransformStep s => new TransformChain(new[] { s }),
                _ => TransformChain.FromMap(item),
            };
        }
        catch (ArgumentException)
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException($"-Transform takes AffineMap, DiffeomorphicMap, TransformChain objects or transform file paths; got {item?.GetType().Name ?? "nothing"}."),
                "InvalidTransform", ErrorCategory.InvalidArgument, item));
            return null!;
        }
    }

    // The output side of the chain is the reference side of its last listed transform (applied first to output points).
    private Grid? DefaultGrid()
    {
        if (_items.Count == 0) return null;
        var (item, inv) = Inverse ? _items[0] : _items[^1];
        inv ^= Inverse;
        return item switch
        {
            MotionCorrectionResult m => m.Source.Grid,
            AffineMap a => inv ? a.Codomain : a.Domain,
            DiffeomorphicMap d => inv ? d.Codomain : d.Domain,
            TransformChain c when !inv && c.Steps.Count > 0 && c.Steps[^1] is DisplacementFieldStep f => f.Field.Grid,
            TransformChain c when inv && c.Steps.Count > 0 && c.Steps[0] is DisplacementFieldStep f => f.Field.Grid,
            _ => null,
        };
    }

    private Grid ReferenceGrid(object reference)
    {
        var v = reference is PSObject p ? p.BaseObject : reference;
        switch (v)
        {
            case Image image: return image.Grid;
            case Grid g: return g;
            case IDictionary h:
                try
                {
                    object? Get(string key) => h.Keys.Cast<object>().Where(k => string.Equals(k.ToString(), key, StringComparison.OrdinalIgnoreCase)).Select(k => h[k]).FirstOrDefault();
                    var shape = Numbers(Get("Shape")).Select(x => (int)x).ToArray();
                    var flat = Flatten(Get("Affine")).ToArray();
                    if (shape.Length is not (2 or 3)) throw new ArgumentException("Shape needs 2 or 3 sizes.");
                    if (flat.Length is not (12 or 16)) throw new ArgumentException("Affine needs a 4x4 (or 3x4) matrix, row by row.");
                    var m = flat.Length == 12 ? flat.Concat(new double[] { 0, 0, 0, 1 }).ToArray() : flat;
                    return shape.Length == 2 ? new Grid(shape[0], shape[1], 1, new Matrix4(m), 2) : new Grid(shape[0], shape[1], shape[2], new Matrix4(m), 3);
                }
                catch (Exception e) when (e is ArgumentException or InvalidCastException or FormatException or OverflowException)
                {
                    ThrowTerminatingError(new ErrorRecord(new ArgumentException("-Reference @{ Shape = nx,ny[,nz]; Affine = 4x4 rows }: " + e.Message, e), "InvalidReference", ErrorCategory.InvalidArgument, reference));
                    return null!;
                }
            default:
                ThrowTerminatingError(new ErrorRecord(new ArgumentException($"-Reference takes an image, a Grid or @{{ Shape = ...; Affine = ... }}; got {v?.GetType().Name ?? "nothing"}."),
                    "InvalidReference", ErrorCategory.InvalidArgument, reference));
                return null!;
        }
    }

    private static IEnumerable<double> Numbers(object? o) => Flatten(o);

    private static IEnumerable<double> Flatten(object? o)
    {
        var v = o is PSObject p ? p.BaseObject : o;
        if (v is null) throw new ArgumentException("missing value");
        if (v is Matrix4 m) { foreach (var x in m.ToArray()) yield return x; yield break; }
        if (v is IEnumerable e and not string)
        {
            foreach (var x in e) foreach (var y in Flatten(x)) yield return y;
            yield break;
        }
        yield return Convert.ToDouble(v, System.Globalization.CultureInfo.InvariantCulture);
    }
}
