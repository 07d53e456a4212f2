using System.Management.Automation;
using RegPS.Engine.Images;
using RegPS.Engine.Registration;
using RegPS.Engine.Transforms;

namespace RegPS.Remoting;

/// <summary>The getter of the hidden RegPSData property RegPS.Types.ps1xml gives images, maps and chains.</summary>
public static class RemotingMembers
{
    /// <summary>The object in <see cref="WireFormat"/>: what PowerShell's serializer carries to another process.</summary>
    public static byte[] GetRegPSData(PSObject instance)
    {
        ArgumentNullException.ThrowIfNull(instance);
        return WireFormat.Encode(instance.BaseObject);
    }
}

/// <summary>
/// Turns a Deserialized.RegPS... property bag (what Start-Job, Invoke-Command or Import-Clixml return) back into the
/// live object: RegPS.Types.ps1xml names the live type as each bag's TargetTypeForDeserialization and this class as
/// that type's converter, so PowerShell rehydrates results as it receives them. Cmdlets taking an Image, a map or a
/// chain also accept a bag directly (parameter binding converts through the same class), e.g. one received before the
/// module was imported. The inputs a result names (StaticFile, MovingFile, StaticPath, MovingPath, Subject, Session)
/// come back as they went; the moving image a local result carries does not travel (Moving: read MovingPath again).
/// </summary>
public sealed class DeserializingConverter : PSTypeConverter
{
    internal const string DataProperty = "RegPSData";

    private static readonly string[] SourceProperties = { "StaticFile", "MovingFile", "StaticPath", "MovingPath", "Subject", "Session" };

    public override bool CanConvertFrom(object sourceValue, Type destinationType) =>
        sourceValue is PSObject p && Data(p) is { } bytes && Fits(WireFormat.KindOf(bytes), destinationType);

    public override object ConvertFrom(object sourceValue, Type destinationType, IFormatProvider formatProvider, bool ignoreCase)
    {
        if (sourceValue is not PSObject p || Data(p) is not { } bytes)
            throw new PSInvalidCastException($"Cannot convert {sourceValue?.GetType().Name ?? "null"} to {destinationType.Name}: it carries no RegPSData (it was not serialised by RegPS).");
        object value;
        try { value = WireFormat.Decode(bytes); }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or IOException)
        {
            throw new PSInvalidCastException($"Cannot rebuild the {destinationType.Name} from its serialised form: {e.Message}", e);
        }
        if (!destinationType.IsInstanceOfType(value))
            throw new PSInvalidCastException($"The serialised object is a {value.GetType().Name}, not a {destinationType.Name}.");
        if (value is not (AffineMap or DiffeomorphicMap)) return value;

        // Instance members added through a wrapper stay with the object itself (PowerShell keeps them per instance), so
        // the live object is returned, which a cast ([AffineMap] $bag) needs, and still shows its inputs.
        var result = PSObject.AsPSObject(value);
        foreach (var name in SourceProperties)
        {
            if (p.Properties[name] is { } prop)
                result.Properties.Add(new PSNoteProperty(name, prop.Value is PSObject v ? v.BaseObject : prop.Value));
        }
        return value;
    }

    /// <summary>
    /// The live object for a Deserialized.RegPS... bag (with its source properties), else <paramref name="value"/>
    /// unchanged: for parameters typed object (-Transform, -Map, -Initial, -Prealign), which PowerShell does not convert.
    /// </summary>
    public static object? Rehydrate(object? value)
    {
        if (value is not PSObject p || Data(p) is not { } bytes) return value;
        var type = WireFormat.KindOf(bytes) switch
        {
            WireFormat.Kind.Image => typeof(Image),
            WireFormat.Kind.AffineMap => typeof(AffineMap),
            WireFormat.Kind.DiffeomorphicMap => typeof(DiffeomorphicMap),
            WireFormat.Kind.TransformChain => typeof(TransformChain),
            _ => null,
        };
        return type is null ? value : new DeserializingConverter().ConvertFrom(p, type, System.Globalization.CultureInfo.InvariantCulture, true);
    }

    /// <summary><see cref="Rehydrate"/>, then the base object of a PSObject.</summary>
    public static object? Unwrap(object? value)
    {
        var v = Rehydrate(value);
        return v is PSObject p ? p.BaseObject : v;
    }

    public override bool CanConvertTo(object sourceValue, Type destinationType) => false;

    public override object ConvertTo(object sourceValue, Type destinationType, IFormatProvider formatProvider, bool ignoreCase) =>
        throw new PSInvalidCastException($"RegPS does not convert its objects to {destinationType.Name}.");

    private static byte[]? Data(PSObject p)
    {
        // Only a bag: a live object has the property too (computed), but needs no conversion.
        if (p.BaseObject is Image or AffineMap or DiffeomorphicMap or TransformChain) return null;
        return p.Properties[DataProperty]?.Value switch
        {
            byte[] b => b,
            PSObject { BaseObject: byte[] b } => b,
            _ => null,
        };
    }

    private static bool Fits(WireFormat.Kind? kind, Type destination) => kind switch
    {
        WireFormat.Kind.Image => destination.IsAssignableFrom(typeof(Image)),
        WireFormat.Kind.AffineMap => destination.IsAssignableFrom(typeof(AffineMap)),
        WireFormat.Kind.DiffeomorphicMap => destination.IsAssignableFrom(typeof(DiffeomorphicMap)),
        WireFormat.Kind.TransformChain => destination.IsAssignableFrom(typeof(TransformChain)),
        _ => false,
    };
}
